"""The device fleet's store (``ports.HallStore``) over PostgreSQL (psycopg 3, async, with a
connection pool): ingest, devices and housekeeping here; telemetry queries, alarms, commands
and dead letters in their own stores over the same pool (``postgres_telemetry``,
``postgres_alarms``, ``postgres_commands``, ``postgres_dead_letters``), which this one hands
its calls to, so the composition root still passes one store object around.

Build it with ``async with PostgresStore.connect(dsn) as store:``; the context owns the pool.
Apply the migrations first (``migrate.apply_migrations``).

Errors: anything that means "the database cannot do work right now" (connection refused or
lost, pool exhausted, server shutting down, deadlock, lock or statement timeout — psycopg's
OperationalError family) becomes ``StoreUnavailable``, which callers may retry
(``kernel.postgres.connections``). Errors about
the data itself (psycopg's DataError, IntegrityError, ...) are left as they are: retrying
would fail the same way, and the ingest service answers them by committing message by message
to isolate the culprit. A duplicate command id becomes ``Conflict``.

Redelivery: the controller acknowledges a message only after its batch is committed, so after
a crash or a lost PUBACK the broker sends it again. Events are deduplicated by their id; raw
telemetry by (device, metric, ts), which a unique index enforces (migration 0003). A sample
that is already stored is skipped, and so is a second copy within one batch: the first value
stored for an instant stands (first write wins). A redelivered message carries the same
values, so nothing is lost; a device that sends two different values for the same metric and
the same millisecond has a bug, and keeping the first is as good an answer as any and the
only one that never rewrites what was already read. "Latest" values follow the same rule.
(So a sender must not sample a metric twice within one millisecond: the second sample would
be taken for a redelivery.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from devices.kinds import DeviceKind
from hall_controller.fleet.batch import TelemetryRow, prepare_batch
from hall_controller.fleet.model import (
    Alarm,
    AlarmSeverity,
    AlarmStatus,
    CommandRecord,
    DeviceRecord,
    IngestBatch,
    LatestValue,
    StoredDeadLetter,
    TelemetryBucket,
)
from hall_controller.fleet.postgres_alarms import PostgresAlarmStore
from hall_controller.fleet.postgres_commands import PostgresCommandStore
from hall_controller.fleet.postgres_dead_letters import PostgresDeadLetterStore
from hall_controller.fleet.postgres_telemetry import PostgresTelemetryQueries
from hall_controller.fleet.queries import QUERIES
from hall_controller.kernel.postgres.connections import (
    Row,
    connection,
    execute,
    fetch_all,
    fetch_one,
    open_pool,
)

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COPY_TYPES = ["text", "timestamptz", "text", "float8", "text", "bool"]
_MS_PER_DAY = 86_400_000


@dataclass(slots=True)
class MaintenanceReport:
    """What one ``maintain`` run did."""

    created: list[str] = field(default_factory=list)      # telemetry partitions created
    dropped: list[str] = field(default_factory=list)      # partitions dropped (retention)
    moved_rows: int = 0        # rows moved out of the default partition into new partitions
    pruned_rows: int = 0       # default-partition rows deleted (older than retention)
    pruned_dead_letters: int = 0
    retention_policy_set: bool = False  # TimescaleDB: retention policy (re)configured


class PostgresStore:
    """Every store port of the controller (``ports.HallStore``) over one PostgreSQL database."""

    def __init__(self, pool: AsyncConnectionPool, *, retention_days: int = 90,
                 ping_timeout_s: float = 2.0) -> None:
        """Use ``PostgresStore.connect``; this takes an already open pool it does not own."""
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        self._pool = pool
        self.retention_days = retention_days
        self._ping_timeout_s = ping_timeout_s
        self._telemetry = PostgresTelemetryQueries(pool)
        self._alarms = PostgresAlarmStore(pool)
        self._commands = PostgresCommandStore(pool)
        self._dead_letters = PostgresDeadLetterStore(pool)

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 8, retention_days: int = 90,
        timeout_s: float = 10.0,
    ) -> AsyncIterator[PostgresStore]:
        """Open a pool of ``min_size``..``max_size`` connections to ``dsn`` and yield a store
        over it; the pool is closed when the context exits.

        ``retention_days`` is how long raw telemetry (and dead letters) are kept by
        ``maintain``. ``timeout_s`` bounds both the first connection and, later, how long a
        call waits for a free or re-established connection before raising StoreUnavailable.
        """
        async with open_pool(dsn, name="hall-store", application_name="hall-controller",
                             min_size=min_size, max_size=max_size,
                             timeout_s=timeout_s) as pool:
            yield cls(pool, retention_days=retention_days)

    @property
    def pool(self) -> AsyncConnectionPool:
        """The open pool (not owned by callers): other stores of the same database share it."""
        return self._pool

    async def ping(self) -> bool:
        """True if the database answers a trivial query within a couple of seconds."""
        try:
            async with self._pool.connection(timeout=self._ping_timeout_s) as conn:
                await conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    # -- ingest -------------------------------------------------------------------------------

    async def commit_batch(self, batch: IngestBatch) -> set[str]:
        """Commit the whole batch in one transaction; returns the ids of the new events.

        Telemetry goes in by binary COPY (through a staging table, to skip samples already
        stored), every other table by one set-based statement.
        """
        if batch.is_empty():
            return set()
        prepared = prepare_batch(batch)
        new_ids: set[str] = set()
        async with connection(self._pool, "commit batch") as conn, conn.transaction():
            if prepared.telemetry:
                await _insert_telemetry(conn, prepared.telemetry)
            if prepared.latest:
                await conn.execute(QUERIES["upsert_latest"], {
                    "device_ids": [r.device_id for r in prepared.latest],
                    "metrics": [r.metric for r in prepared.latest],
                    "ts_ms": [r.ts_ms for r in prepared.latest],
                    "values": [json.dumps(r.value) for r in prepared.latest],
                })
            if prepared.events:
                events = [p.event for p in prepared.events]
                cur = await conn.execute(QUERIES["insert_events"], {
                    "event_ids": [p.event_uuid for p in prepared.events],
                    "device_ids": [e.device_id for e in events],
                    "ts_ms": [e.ts_ms for e in events],
                    "types": [e.type for e in events],
                    "data": [json.dumps(e.data) for e in events],
                    "received_ms": [e.received_ms for e in events],
                })
                inserted = {row[0] for row in await cur.fetchall()}
                # Report the ids as the caller spelled them (a device may send upper case).
                new_ids = {p.event.event_id for p in prepared.events if p.event_uuid in inserted}
            if prepared.dead_letters:
                letters = prepared.dead_letters
                await conn.execute(QUERIES["insert_dead_letters"], {
                    "received_ms": [d.received_ms for d in letters],
                    "topics": [d.topic for d in letters],
                    "device_ids": [d.device_id for d in letters],
                    "reasons": [d.reason for d in letters],
                    "payloads": [d.payload for d in letters],
                    "sizes": [d.size for d in letters],
                })
            if prepared.devices:
                await conn.execute(QUERIES["upsert_devices"], _device_columns(prepared.devices))
        return new_ids

    # -- devices ------------------------------------------------------------------------------

    async def load_devices(self) -> list[DeviceRecord]:
        """Every known device (the registry's state at start-up), by id."""
        return await self.list_devices()

    async def list_devices(self) -> list[DeviceRecord]:
        """Every known device, by id."""
        rows = await fetch_all(self._pool, "list devices", QUERIES["list_devices"])
        return [_device(r) for r in rows]

    async def get_device(self, device_id: str) -> DeviceRecord | None:
        row = await fetch_one(self._pool, "get device", QUERIES["get_device"],
                              {"device_id": device_id})
        return None if row is None else _device(row)

    async def upsert_devices(self, devices: list[DeviceRecord]) -> None:
        """Write these device records as given (insert or overwrite)."""
        if not devices:
            return
        # Through prepare_batch for the same scrubbing and lock order as commit_batch.
        prepared = prepare_batch(IngestBatch(devices={d.device_id: d for d in devices}))
        await execute(self._pool, "upsert devices", QUERIES["upsert_devices"],
                      _device_columns(prepared.devices))

    async def latest_values(
        self, device_ids: list[str] | None = None,
    ) -> dict[str, list[LatestValue]]:
        """Latest value per metric (sorted by metric), per device; all devices when None.
        Devices without telemetry are absent from the result."""
        if device_ids is None:
            rows = await fetch_all(self._pool, "latest values", QUERIES["latest_values"])
        elif not device_ids:
            return {}
        else:
            rows = await fetch_all(self._pool, "latest values", QUERIES["latest_values_of"],
                                   {"device_ids": list(device_ids)})
        result: dict[str, list[LatestValue]] = {}
        for row in rows:
            result.setdefault(row["device_id"], []).append(
                LatestValue(row["metric"], row["ts_ms"], row["value"]))
        return result

    # -- telemetry, events, alarms, commands, dead letters: their own stores, same pool ----

    async def telemetry_series(
        self, device_id: str, metric: str, from_ms: int, to_ms: int, bucket_s: int,
    ) -> list[TelemetryBucket]:
        """See ``PostgresTelemetryQueries.telemetry_series``."""
        return await self._telemetry.telemetry_series(device_id, metric, from_ms, to_ms,
                                                      bucket_s)

    async def list_events(
        self, device_id: str | None, limit: int, before_ms: int | None = None,
    ) -> list[dict[str, object]]:
        """See ``PostgresTelemetryQueries.list_events``."""
        return await self._telemetry.list_events(device_id, limit, before_ms)

    async def telemetry_storage(self) -> str:
        """How raw telemetry is stored: "partitioned" (native) or "timescaledb"."""
        return await self._telemetry.telemetry_storage()

    async def raise_alarm(
        self, device_id: str, type: str, severity: AlarmSeverity, details: dict[str, object],
        at_ms: int,
    ) -> tuple[Alarm, bool]:
        """See ``PostgresAlarmStore.raise_alarm``."""
        return await self._alarms.raise_alarm(device_id, type, severity, details, at_ms)

    async def clear_alarm_by_type(self, device_id: str, type: str, at_ms: int,
                                  by: str) -> Alarm | None:
        return await self._alarms.clear_alarm_by_type(device_id, type, at_ms, by)

    async def ack_alarm(self, alarm_id: int, at_ms: int, by: str) -> Alarm:
        return await self._alarms.ack_alarm(alarm_id, at_ms, by)

    async def clear_alarm(self, alarm_id: int, at_ms: int, by: str,
                          note: str | None = None) -> Alarm:
        return await self._alarms.clear_alarm(alarm_id, at_ms, by, note)

    async def get_alarm(self, alarm_id: int) -> Alarm | None:
        return await self._alarms.get_alarm(alarm_id)

    async def list_alarms(
        self, status: AlarmStatus | None = None, acknowledged: bool | None = None,
        device_id: str | None = None, limit: int = 500,
    ) -> list[Alarm]:
        return await self._alarms.list_alarms(status, acknowledged, device_id, limit)

    async def insert_command(self, command: CommandRecord) -> None:
        await self._commands.insert_command(command)

    async def update_command(self, command: CommandRecord) -> None:
        await self._commands.update_command(command)

    async def get_command(self, command_id: str) -> CommandRecord | None:
        return await self._commands.get_command(command_id)

    async def list_commands(self, device_id: str, limit: int = 100, *,
                            automatic: bool = True) -> list[CommandRecord]:
        return await self._commands.list_commands(device_id, limit, automatic=automatic)

    async def list_dead_letters(self, limit: int = 100,
                                device_id: str | None = None) -> list[StoredDeadLetter]:
        return await self._dead_letters.list_dead_letters(limit, device_id)

    async def count_dead_letters_by_reason(self) -> dict[str, int]:
        return await self._dead_letters.count_dead_letters_by_reason()

    # -- housekeeping ---------------------------------------------------------------------------

    async def maintain(self, now_ms: int, *, retention_days: int | None = None,
                       days_ahead: int = 3) -> MaintenanceReport:
        """Create telemetry partitions for today and ``days_ahead`` days, drop those older
        than the retention, delete dead letters older than it. Safe to run on every
        controller (serialised in the database); run it at least daily.

        On TimescaleDB, chunks are Timescale's business: this only keeps its retention
        policy equal to ``retention_days``.
        """
        days = self.retention_days if retention_days is None else retention_days
        report = MaintenanceReport()
        async with connection(self._pool, "maintain storage") as conn, conn.transaction():
            cur = await conn.execute(QUERIES["maintain_partitions"], {
                "now_ms": now_ms, "retention_days": days, "days_ahead": days_ahead})
            for action, name, count in await cur.fetchall():
                if action == "created":
                    report.created.append(name)
                    report.moved_rows += count or 0
                elif action == "dropped":
                    report.dropped.append(name)
                elif action == "pruned":
                    report.pruned_rows += count or 0
                elif action == "retention_policy":
                    report.retention_policy_set = True
            cur = await conn.execute(QUERIES["prune_dead_letters"],
                                     {"before_ms": now_ms - days * _MS_PER_DAY})
            report.pruned_dead_letters = max(cur.rowcount, 0)
        if report.created or report.dropped or report.pruned_rows:
            logger.info("telemetry storage maintained: created %s, dropped %s, moved %d rows, "
                        "pruned %d rows", report.created, report.dropped, report.moved_rows,
                        report.pruned_rows)
        return report


# -- conversions -----------------------------------------------------------------------------


async def _insert_telemetry(conn: psycopg.AsyncConnection[Any],
                            rows: list[TelemetryRow]) -> None:
    """COPY the rows into the session's staging table, then into telemetry, skipping samples
    already stored. Must run inside a transaction (the staging table empties at commit)."""
    await conn.execute(QUERIES["create_telemetry_staging"])
    # Samples of one message share a timestamp: convert each distinct one once.
    stamps: dict[int, datetime] = {}
    async with conn.cursor() as cur, cur.copy(QUERIES["copy_telemetry"]) as copy:
        copy.set_types(_COPY_TYPES)
        for r in rows:
            ts = stamps.get(r.ts_ms)
            if ts is None:
                ts = stamps[r.ts_ms] = _EPOCH + timedelta(milliseconds=r.ts_ms)
            await copy.write_row((r.device_id, ts, r.metric, r.num, r.text, r.flag))
    await conn.execute(QUERIES["insert_telemetry"])


def _device_columns(devices: list[DeviceRecord]) -> dict[str, list[Any]]:
    return {
        "device_ids": [d.device_id for d in devices],
        "kinds": [str(d.kind) for d in devices],
        "models": [d.model for d in devices],
        "fws": [d.fw for d in devices],
        "sites": [d.site for d in devices],
        "onlines": [d.online for d in devices],
        "sessions": [d.session for d in devices],
        "first_seen_ms": [d.first_seen_ms for d in devices],
        "last_seen_ms": [d.last_seen_ms for d in devices],
        "online_since_ms": [d.online_since_ms for d in devices],
        "offline_reasons": [d.offline_reason for d in devices],
    }


def _device(row: Row) -> DeviceRecord:
    return DeviceRecord(
        device_id=row["device_id"], kind=DeviceKind(row["kind"]), model=row["model"],
        fw=row["fw"], site=row["site"], online=row["online"], session=row["session"],
        first_seen_ms=row["first_seen_ms"], last_seen_ms=row["last_seen_ms"],
        online_since_ms=row["online_since_ms"], offline_reason=row["offline_reason"],
    )
