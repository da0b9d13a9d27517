"""``KioskKeyStore`` over PostgreSQL (the ``kiosk_keys`` table of migration 0015, queries in
``sql/kiosk_keys.sql``), over an open pool it does not own. Connection trouble becomes
``StoreUnavailable``."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import NotFound
from hall_controller.kernel.postgres.connections import execute, fetch_all, fetch_one
from hall_controller.queue.kiosk_keys import KioskKey
from hall_controller.queue.kiosk_pairing import PairingCode
from hall_controller.queue.queries import QUERIES


def _key(row: dict[str, Any]) -> KioskKey:
    return KioskKey(key_id=row["key_id"], device_id=row["device_id"], name=row["name"],
                    secret_hash=row["secret_hash"], created_ms=row["created_ms"],
                    created_by=row["created_by"], last_used_ms=row["last_used_ms"],
                    revoked_ms=row["revoked_ms"])


def _code(row: dict[str, Any]) -> PairingCode:
    return PairingCode(code_hash=row["code_hash"], device_id=row["device_id"], name=row["name"],
                       created_ms=row["created_ms"], created_by=row["created_by"],
                       expires_ms=row["expires_ms"], used_ms=row["used_ms"],
                       used_from=row["used_from"], key_id=row["key_id"])


class PostgresKioskKeys:
    """The browser kiosks' keys and pairing codes (migration 0018) in the controller's
    database."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def insert_kiosk_key(self, key: KioskKey) -> None:
        await execute(self._pool, "insert kiosk key", QUERIES["insert_kiosk_key"], {
            "key_id": key.key_id, "device_id": key.device_id, "name": key.name,
            "secret_hash": key.secret_hash, "created_ms": key.created_ms,
            "created_by": key.created_by})

    async def get_kiosk_key(self, key_id: str) -> KioskKey | None:
        row = await fetch_one(self._pool, "get kiosk key", QUERIES["get_kiosk_key"],
                              {"key_id": key_id})
        return None if row is None else _key(row)

    async def list_kiosk_keys(self) -> list[KioskKey]:
        rows = await fetch_all(self._pool, "list kiosk keys", QUERIES["list_kiosk_keys"], {})
        return [_key(row) for row in rows]

    async def revoke_kiosk_key(self, key_id: str, at_ms: int) -> KioskKey:
        row = await fetch_one(self._pool, "revoke kiosk key", QUERIES["revoke_kiosk_key"],
                              {"key_id": key_id, "at_ms": at_ms})
        if row is None:
            raise NotFound(f"no kiosk key {key_id}",
                           code=ErrorCode.KIOSK_KEY_UNKNOWN, key=key_id)
        return _key(row)

    async def mark_kiosk_key_used(self, key_id: str, at_ms: int) -> None:
        await execute(self._pool, "mark kiosk key used", QUERIES["mark_kiosk_key_used"],
                      {"key_id": key_id, "at_ms": at_ms})

    async def insert_pairing_code(self, code: PairingCode) -> None:
        await execute(self._pool, "insert pairing code", QUERIES["insert_pairing_code"], {
            "code_hash": code.code_hash, "device_id": code.device_id, "name": code.name,
            "created_ms": code.created_ms, "created_by": code.created_by,
            "expires_ms": code.expires_ms})

    async def get_pairing_code(self, code_hash: str) -> PairingCode | None:
        row = await fetch_one(self._pool, "get pairing code", QUERIES["get_pairing_code"],
                              {"code_hash": code_hash})
        return None if row is None else _code(row)

    async def claim_pairing_code(self, code_hash: str, at_ms: int,
                                 used_from: str) -> PairingCode | None:
        row = await fetch_one(self._pool, "claim pairing code", QUERIES["claim_pairing_code"],
                              {"code_hash": code_hash, "at_ms": at_ms, "used_from": used_from})
        return None if row is None else _code(row)

    async def set_pairing_code_key(self, code_hash: str, key_id: str) -> None:
        await execute(self._pool, "set pairing code key", QUERIES["set_pairing_code_key"],
                      {"code_hash": code_hash, "key_id": key_id})

    async def list_pairing_codes(self, limit: int) -> list[PairingCode]:
        rows = await fetch_all(self._pool, "list pairing codes", QUERIES["list_pairing_codes"],
                               {"limit": limit})
        return [_code(row) for row in rows]
