"""``ProvisioningStore`` over PostgreSQL (the ``device_credentials`` table of migration 0014,
queries in ``sql/provisioning.sql``), over an open pool it does not own (``PostgresStore.pool``).

Connection trouble becomes ``StoreUnavailable`` (``kernel.postgres.connections``).
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from devices.kinds import DeviceKind
from hall_controller.fleet.provisioning import CredentialStatus, DeviceCredential
from hall_controller.fleet.queries import QUERIES
from hall_controller.kernel.postgres.connections import execute, fetch_all, fetch_one


def _credential(row: dict[str, Any]) -> DeviceCredential:
    return DeviceCredential(
        device_id=row["device_id"], kind=DeviceKind(row["kind"]), site=row["site"],
        password_hash=row["password_hash"], command_key=bytes(row["command_key"]),
        status=CredentialStatus(row["status"]), created_ms=row["created_ms"],
        created_by=row["created_by"], rotated_ms=row["rotated_ms"], rotated_by=row["rotated_by"],
        revoked_ms=row["revoked_ms"], revoked_by=row["revoked_by"])


class PostgresProvisioningStore:
    """Provisioned device credentials in the controller's database."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def get_credential(self, device_id: str) -> DeviceCredential | None:
        row = await fetch_one(self._pool, "get device credential", QUERIES["get_credential"],
                              {"device_id": device_id})
        return None if row is None else _credential(row)

    async def get_credentials(self, device_ids: list[str]) -> dict[str, DeviceCredential]:
        rows = await fetch_all(self._pool, "get device credentials", QUERIES["get_credentials"],
                               {"device_ids": list(device_ids)})
        return {row["device_id"]: _credential(row) for row in rows}

    async def list_credentials(self) -> list[DeviceCredential]:
        rows = await fetch_all(self._pool, "list device credentials",
                               QUERIES["list_credentials"], {})
        return [_credential(row) for row in rows]

    async def save_credential(self, credential: DeviceCredential) -> None:
        c = credential
        await execute(self._pool, "save device credential", QUERIES["save_credential"], {
            "device_id": c.device_id, "kind": c.kind.value, "site": c.site,
            "password_hash": c.password_hash, "command_key": c.command_key,
            "status": c.status.value, "created_ms": c.created_ms, "created_by": c.created_by,
            "rotated_ms": c.rotated_ms, "rotated_by": c.rotated_by,
            "revoked_ms": c.revoked_ms, "revoked_by": c.revoked_by})
