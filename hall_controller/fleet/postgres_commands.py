"""``CommandStore`` over PostgreSQL: the commands sent to devices and how they ended
(queries in ``sql/commands.sql``).

Over an open pool it does not own (``PostgresStore`` builds one over its pool). A duplicate
command id becomes ``Conflict``; updating a command that is not stored, ``NotFound``.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hall_controller.fleet.batch import scrub_json, scrub_text
from hall_controller.fleet.model import CommandRecord, CommandStatus
from hall_controller.fleet.queries import QUERIES
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.kernel.postgres.connections import Row, execute, fetch_all, fetch_one


class PostgresCommandStore:
    """Device commands in the controller's database."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def insert_command(self, command: CommandRecord) -> None:
        """Store a new command; raises Conflict if its id is already taken."""
        try:
            await execute(self._pool, "insert command", QUERIES["insert_command"],
                          _command_params(command))
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"command {command.command_id} already exists") from exc

    async def update_command(self, command: CommandRecord) -> None:
        """Overwrite a stored command with this record; raises NotFound if it is not stored."""
        updated = await execute(self._pool, "update command", QUERIES["update_command"],
                                _command_params(command))
        if updated == 0:
            raise NotFound(f"command {command.command_id} does not exist",
                           code=ErrorCode.COMMAND_UNKNOWN, command=command.command_id)

    async def get_command(self, command_id: str) -> CommandRecord | None:
        row = await fetch_one(self._pool, "get command", QUERIES["get_command"],
                              {"command_id": command_id})
        return None if row is None else _command(row)

    async def list_commands(self, device_id: str, limit: int = 100, *,
                            automatic: bool = True) -> list[CommandRecord]:
        """The device's commands, newest first; without those the controller sent by itself
        when ``automatic`` is false."""
        query = "list_commands" if automatic else "list_staff_commands"
        rows = await fetch_all(self._pool, "list commands", QUERIES[query],
                               {"device_id": device_id, "limit": max(limit, 0)})
        return [_command(r) for r in rows]


def _jsonb(value: dict[str, Any] | None) -> Jsonb | None:
    return None if value is None else Jsonb(scrub_json(value))


def _command_params(command: CommandRecord) -> dict[str, Any]:
    return {
        "command_id": command.command_id, "device_id": command.device_id,
        "method": command.method, "params": Jsonb(scrub_json(command.params)),
        "status": command.status.value, "created_ms": command.created_ms,
        "expires_at_ms": command.expires_at_ms, "requested_by": scrub_text(command.requested_by),
        "sent_ms": command.sent_ms, "completed_ms": command.completed_ms,
        "result": _jsonb(command.result), "error": _jsonb(command.error),
        "note": None if command.note is None else scrub_text(command.note),
    }


def _command(row: Row) -> CommandRecord:
    return CommandRecord(
        command_id=row["command_id"], device_id=row["device_id"], method=row["method"],
        params=row["params"], status=CommandStatus(row["status"]), created_ms=row["created_ms"],
        expires_at_ms=row["expires_at_ms"], requested_by=row["requested_by"],
        sent_ms=row["sent_ms"], completed_ms=row["completed_ms"], result=row["result"],
        error=row["error"], note=row["note"],
    )
