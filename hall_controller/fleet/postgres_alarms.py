"""``AlarmStore`` over PostgreSQL: one active alarm per (device, type), raised, bumped,
acknowledged and cleared atomically in the database (migration 0001, queries in
``sql/alarms.sql``).

Over an open pool it does not own (``PostgresStore`` builds one over its pool).
"""

from __future__ import annotations

from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hall_controller.fleet.batch import scrub_json, scrub_text
from hall_controller.fleet.model import Alarm, AlarmSeverity, AlarmStatus
from hall_controller.fleet.queries import QUERIES
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import NotFound
from hall_controller.kernel.postgres.connections import Row, dict_cursor, fetch_all, fetch_one
from hall_controller.kernel.postgres.queries import where_clause


class PostgresAlarmStore:
    """Alarms in the controller's database."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def raise_alarm(
        self, device_id: str, type: str, severity: AlarmSeverity, details: dict[str, object],
        at_ms: int,
    ) -> tuple[Alarm, bool]:
        """Create the active alarm for (device, type) or bump the active one; atomic even
        when several controllers raise it at once. Returns (alarm, created)."""
        row = await fetch_one(self._pool, "raise alarm", QUERIES["raise_alarm"], {
            "device_id": device_id, "type": type, "severity": severity.value,
            "details": Jsonb(scrub_json(details)), "at_ms": at_ms,
        })
        assert row is not None  # INSERT ... ON CONFLICT DO UPDATE always returns the row
        alarm = _alarm(row)
        return alarm, alarm.count == 1

    async def clear_alarm_by_type(self, device_id: str, type: str, at_ms: int,
                                  by: str) -> Alarm | None:
        """Clear the active alarm of that type on that device; None if there is none."""
        row = await fetch_one(self._pool, "clear alarm", QUERIES["clear_alarm_by_type"], {
            "device_id": device_id, "type": type, "at_ms": at_ms, "by": by})
        return None if row is None else _alarm(row)

    async def ack_alarm(self, alarm_id: int, at_ms: int, by: str) -> Alarm:
        """Acknowledge; raises NotFound; a second ack returns the alarm unchanged."""
        return await self._change_alarm("ack_alarm", alarm_id, at_ms, by)

    async def clear_alarm(self, alarm_id: int, at_ms: int, by: str,
                          note: str | None = None) -> Alarm:
        """Clear; raises NotFound; a second clear returns the alarm unchanged (the first
        clear's note stays)."""
        return await self._change_alarm("clear_alarm", alarm_id, at_ms, by,
                                        None if note is None else scrub_text(note))

    async def _change_alarm(self, query: str, alarm_id: int, at_ms: int, by: str,
                            note: str | None = None) -> Alarm:
        async with dict_cursor(self._pool, query) as cur:
            await cur.execute(QUERIES[query], {"id": alarm_id, "at_ms": at_ms, "by": by,
                                               "note": note})
            row = await cur.fetchone()
            if row is None:  # already in that state, or no such alarm
                await cur.execute(QUERIES["get_alarm"], {"id": alarm_id})
                row = await cur.fetchone()
        if row is None:
            raise NotFound(f"alarm {alarm_id} does not exist",
                           code=ErrorCode.ALARM_UNKNOWN, alarm=alarm_id)
        return _alarm(row)

    async def get_alarm(self, alarm_id: int) -> Alarm | None:
        row = await fetch_one(self._pool, "get alarm", QUERIES["get_alarm"], {"id": alarm_id})
        return None if row is None else _alarm(row)

    async def list_alarms(
        self, status: AlarmStatus | None = None, acknowledged: bool | None = None,
        device_id: str | None = None, limit: int = 500,
    ) -> list[Alarm]:
        """Alarms newest first (by raise time), filtered by whichever arguments are given."""
        conditions: list[sql.Composable] = []
        if status is not None:
            conditions.append(sql.SQL("status = %(status)s"))
        if acknowledged is not None:
            conditions.append(sql.SQL("acknowledged = %(acknowledged)s"))
        if device_id is not None:
            conditions.append(sql.SQL("device_id = %(device_id)s"))
        query = sql.SQL(QUERIES["list_alarms"]).format(where=where_clause(conditions))
        rows = await fetch_all(self._pool, "list alarms", query, {
            "status": None if status is None else status.value, "acknowledged": acknowledged,
            "device_id": device_id, "limit": max(limit, 0)})
        return [_alarm(r) for r in rows]


def _alarm(row: Row) -> Alarm:
    return Alarm(
        id=row["id"], device_id=row["device_id"], type=row["type"],
        severity=AlarmSeverity(row["severity"]), status=AlarmStatus(row["status"]),
        acknowledged=row["acknowledged"], raised_ms=row["raised_ms"],
        updated_ms=row["updated_ms"], count=row["count"], details=row["details"],
        cleared_ms=row["cleared_ms"], acked_ms=row["acked_ms"], acked_by=row["acked_by"],
        cleared_by=row["cleared_by"], cleared_note=row["cleared_note"],
    )
