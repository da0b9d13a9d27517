"""``KioskKeyStore`` in memory: the fake the unit tests and the API tests run against.

Pure: no I/O. ``available = False`` makes every call raise StoreUnavailable, as an outage would.
"""

from __future__ import annotations

import dataclasses

from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import NotFound, StoreUnavailable
from hall_controller.queue.kiosk_keys import KioskKey
from hall_controller.queue.kiosk_pairing import PairingCode


class MemoryKioskKeys:
    """Kiosk keys by key id (records are frozen: handed out as they are)."""

    def __init__(self) -> None:
        self.available = True
        self.keys: dict[str, KioskKey] = {}
        self.pairing_codes: dict[str, PairingCode] = {}

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("memory kiosk key store set unavailable")

    async def insert_kiosk_key(self, key: KioskKey) -> None:
        self._check()
        if key.key_id in self.keys:
            raise ValueError(f"kiosk key {key.key_id} exists")  # the primary key in 0015
        self.keys[key.key_id] = key

    async def get_kiosk_key(self, key_id: str) -> KioskKey | None:
        self._check()
        return self.keys.get(key_id)

    async def list_kiosk_keys(self) -> list[KioskKey]:
        self._check()
        return sorted(self.keys.values(), key=lambda k: (k.created_ms, k.key_id), reverse=True)

    async def revoke_kiosk_key(self, key_id: str, at_ms: int) -> KioskKey:
        self._check()
        key = self.keys.get(key_id)
        if key is None:
            raise NotFound(f"no kiosk key {key_id}",
                           code=ErrorCode.KIOSK_KEY_UNKNOWN, key=key_id)
        if key.revoked_ms is None:
            key = self.keys[key_id] = dataclasses.replace(key, revoked_ms=at_ms)
        return key

    async def mark_kiosk_key_used(self, key_id: str, at_ms: int) -> None:
        self._check()
        key = self.keys.get(key_id)
        if key is not None and (key.last_used_ms is None or key.last_used_ms < at_ms):
            self.keys[key_id] = dataclasses.replace(key, last_used_ms=at_ms)

    async def insert_pairing_code(self, code: PairingCode) -> None:
        self._check()
        if code.code_hash in self.pairing_codes:
            raise ValueError("pairing code exists")  # the primary key in 0018
        self.pairing_codes[code.code_hash] = code

    async def get_pairing_code(self, code_hash: str) -> PairingCode | None:
        self._check()
        return self.pairing_codes.get(code_hash)

    async def claim_pairing_code(self, code_hash: str, at_ms: int,
                                 used_from: str) -> PairingCode | None:
        self._check()
        code = self.pairing_codes.get(code_hash)
        if code is None or code.used_ms is not None or at_ms >= code.expires_ms:
            return None
        code = self.pairing_codes[code_hash] = dataclasses.replace(
            code, used_ms=at_ms, used_from=used_from)
        return code

    async def set_pairing_code_key(self, code_hash: str, key_id: str) -> None:
        self._check()
        code = self.pairing_codes.get(code_hash)
        if code is not None:
            self.pairing_codes[code_hash] = dataclasses.replace(code, key_id=key_id)

    async def list_pairing_codes(self, limit: int) -> list[PairingCode]:
        self._check()
        return sorted(self.pairing_codes.values(), key=lambda c: (-c.created_ms, c.code_hash))[:limit]
