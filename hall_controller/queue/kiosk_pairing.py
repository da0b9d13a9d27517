"""Pairing a browser kiosk without curl: an admin issues a one-time code for a kiosk id, and the
kiosk's setup screen trades the code for that kiosk's key (``kiosk_keys``).

A code is 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown as
``ABCD-EFGH`` and typed on a touch screen by a person. It works once, for ``CODE_TTL_MS``
(10 minutes), and only a SHA-256 of it is stored. 31⁸ ≈ 8.5·10¹¹ codes against at most
``failures_per_address`` wrong tries per address in ``failure_window_s``: guessing one of the
few live codes is out of reach. The limit is counted per controller process, like the other
throttles. Each code's row records who issued it, when, from which address it was used and
which key it produced: the audit of how each kiosk got its key.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from devices.contract import now_ms
from hall_controller.queue.kiosk_keys import (
    IssuedKioskKey,
    KioskKeyService,
    KioskKeyStore,
    WindowCounter,
)

logger = logging.getLogger(__name__)

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CODE_TTL_MS = 10 * 60_000


@dataclass(frozen=True, slots=True)
class PairingCode:
    code_hash: str
    device_id: str
    name: str
    created_ms: int
    created_by: str
    expires_ms: int
    used_ms: int | None = None
    used_from: str | None = None
    key_id: str | None = None

    def state(self, at_ms: int) -> PairingState:
        if self.used_ms is not None:
            return PairingState.USED
        return PairingState.EXPIRED if at_ms >= self.expires_ms else PairingState.PENDING


class PairingState(StrEnum):
    PENDING = "pending"
    USED = "used"
    EXPIRED = "expired"


class KioskPairingStore(Protocol):
    async def insert_pairing_code(self, code: PairingCode) -> None: ...

    async def get_pairing_code(self, code_hash: str) -> PairingCode | None: ...

    async def claim_pairing_code(self, code_hash: str, at_ms: int,
                                 used_from: str) -> PairingCode | None:
        """Marks the code used, atomically, if it is unused and unexpired at ``at_ms``: the
        claimed code, else None (unknown, used or expired)."""
        ...

    async def set_pairing_code_key(self, code_hash: str, key_id: str) -> None: ...

    async def list_pairing_codes(self, limit: int) -> list[PairingCode]:
        """The newest first."""
        ...


class KioskStore(KioskKeyStore, KioskPairingStore, Protocol):
    """Keys and pairing codes, kept together (``MemoryKioskKeys``, ``PostgresKioskKeys``)."""


class PairingRefused(Exception):
    """The code does not set up a kiosk; ``reason`` says why (a stable code for the page)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PairingThrottled(PairingRefused):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__("pairing_throttled", "too many wrong pairing codes from this address")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class IssuedPairingCode:
    code: PairingCode
    plaintext: str   # "ABCD-EFGH": shown to the admin once; only its hash is kept


def normalise(typed: str) -> str:
    """What a person typed, as the code: upper case, without spaces and dashes."""
    return "".join(ch for ch in typed.upper() if ch not in " -\t")


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class KioskPairingService:
    """Issue pairing codes (admin) and trade one for a kiosk key (the kiosk's setup screen)."""

    def __init__(self, store: KioskPairingStore, keys: KioskKeyService, *,
                 failures_per_address: int = 10, failure_window_s: float = 600.0,
                 clock: Callable[[], int] = now_ms,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._keys = keys
        self._clock = clock
        self._monotonic = monotonic
        self._failures = WindowCounter(failures_per_address, failure_window_s)

    async def issue(self, device_id: str, name: str, by: str) -> IssuedPairingCode:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        at = self._clock()
        record = PairingCode(code_hash=_hash(code), device_id=device_id, name=name,
                             created_ms=at, created_by=by, expires_ms=at + CODE_TTL_MS)
        await self._store.insert_pairing_code(record)
        logger.info("pairing code for kiosk %s issued by %s", device_id, by,
                    extra={"device_id": device_id, "by": by})
        return IssuedPairingCode(record, f"{code[:4]}-{code[4:]}")

    async def recent(self, limit: int = 50) -> list[PairingCode]:
        return await self._store.list_pairing_codes(limit)

    async def pair(self, typed: str, address: str) -> IssuedKioskKey:
        """The new key of the kiosk the code was issued for. Raises PairingThrottled when the
        address has tried too many wrong codes, PairingRefused (``unknown``, ``used``,
        ``expired``) otherwise."""
        now = self._monotonic()
        wait = self._failures.retry_after(address, now)
        if wait > 0:
            logger.warning("pairing from %s throttled", address, extra={"address": address})
            raise PairingThrottled(wait)
        code = normalise(typed)
        at = self._clock()
        claimed = None
        if len(code) == CODE_LENGTH and all(ch in ALPHABET for ch in code):
            claimed = await self._store.claim_pairing_code(_hash(code), at, address)
        if claimed is None:
            self._failures.record(address, now)
            reason = await self._why_refused(code, at)
            logger.warning("pairing code refused from %s: %s", address, reason,
                           extra={"address": address, "reason": reason})
            raise PairingRefused(f"pairing_code_{reason}", f"pairing code {reason}")
        issued = await self._keys.create(claimed.device_id, claimed.name,
                                         f"pairing:{claimed.created_by}")
        await self._store.set_pairing_code_key(claimed.code_hash, issued.key.key_id)
        logger.info("kiosk %s paired from %s (code issued by %s)", claimed.device_id, address,
                    claimed.created_by, extra={"device_id": claimed.device_id,
                                               "address": address, "key_id": issued.key.key_id})
        return issued

    async def _why_refused(self, code: str, at: int) -> str:
        if len(code) != CODE_LENGTH:
            return "unknown"
        known = await self._store.get_pairing_code(_hash(code))
        if known is None:
            return "unknown"
        state = known.state(at)
        # Pending here means another kiosk claimed it a moment ago.
        return "used" if state is PairingState.PENDING else state.value
