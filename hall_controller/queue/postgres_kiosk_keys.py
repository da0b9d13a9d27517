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
from hall_controller.queue.queries import QUERIES


def _key(row: dict[str, Any]) -> KioskKey:
    return KioskKey(key_id=row["key_id"], device_id=row["device_id"], name=row["name"],
                    secret_hash=row["secret_hash"], created_ms=row["created_ms"],
                    created_by=row["created_by"], last_used_ms=row["last_used_ms"],
                    revoked_ms=row["revoked_ms"])


class PostgresKioskKeys:
    """The browser kiosks' keys in the controller's database."""

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
