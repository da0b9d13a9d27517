"""``HallStore`` over PostgreSQL (psycopg 3, async, with a connection pool).

Build it with ``async with PostgresStore.connect(dsn) as store:``; the context owns the pool.
Apply the migrations first (``migrate.apply_migrations``).

Errors: anything that means "the database cannot do work right now" (connection refused or
lost, pool exhausted, server shutting down, deadlock, lock or statement timeout — psycopg's
OperationalError family) becomes ``StoreUnavailable``, which callers may retry. Errors about
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
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from devices.kinds import DeviceKind
from hall_controller.fleet.batch import (
    PAYLOAD_PREVIEW_BYTES,
    TelemetryRow,
    payload_preview,
    prepare_batch,
    scrub_json,
    scrub_text,
)
from hall_controller.fleet.model import (
    Alarm,
    AlarmSeverity,
    AlarmStatus,
    CommandRecord,
    CommandStatus,
    DeviceRecord,
    IngestBatch,
    LatestValue,
    Role,
    StoredDeadLetter,
    TelemetryBucket,
    TelemetryScalar,
    User,
)
from hall_controller.fleet.queries import QUERIES
from hall_controller.kernel.errors import Conflict, NotFound, StoreUnavailable
from hall_controller.kernel.postgres.connections import connection

logger = logging.getLogger(__name__)

Row = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COPY_TYPES = ["text", "timestamptz", "text", "float8", "text", "bool"]
_MS_PER_DAY = 86_400_000
_MS_PER_MINUTE = 60_000


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
        self._storage: str | None = None  # telemetry_storage(), once known (it never changes)

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
        pool = AsyncConnectionPool(
            dsn, min_size=min_size, max_size=max_size, open=False, timeout=timeout_s,
            name="hall-store",
            kwargs={"autocommit": True, "application_name": "hall-controller"},
            # One cheap round trip per checkout, so a connection broken by a database restart
            # is replaced instead of failing the caller's first statement.
            check=AsyncConnectionPool.check_connection,
            # While the database is down the pool retries with doubling delays until this
            # runs out, then starts afresh at the next request. The default (300 s) lets the
            # delay reach two minutes: that long a wait after the database is back, with
            # ingest stalled. 30 s keeps it under about 15 s.
            reconnect_timeout=30.0,
        )
        try:
            await pool.open(wait=True, timeout=timeout_s)
        except psycopg.OperationalError as exc:  # PoolTimeout is one
            await pool.close()
            raise StoreUnavailable(
                f"cannot connect to the database within {timeout_s:g} s: {exc}") from exc
        try:
            yield cls(pool, retention_days=retention_days)
        finally:
            await pool.close()

    @property
    def pool(self) -> AsyncConnectionPool:
        """The open pool (not owned by callers): other stores of the same database share it."""
        return self._pool

    # -- plumbing ---------------------------------------------------------------------------

    def _connection(self, what: str) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        return connection(self._pool, what)

    async def _fetch(self, what: str, query: str | sql.Composed,
                     params: Mapping[str, Any] | None = None) -> list[Row]:
        async with self._connection(what) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()

    async def _fetch_one(self, what: str, query: str | sql.Composed,
                         params: Mapping[str, Any] | None = None) -> Row | None:
        rows = await self._fetch(what, query, params)
        return rows[0] if rows else None

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
        async with self._connection("commit batch") as conn, conn.transaction():
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
        return [_device(r) for r in await self._fetch("list devices", QUERIES["list_devices"])]

    async def get_device(self, device_id: str) -> DeviceRecord | None:
        row = await self._fetch_one("get device", QUERIES["get_device"], {"device_id": device_id})
        return None if row is None else _device(row)

    async def upsert_devices(self, devices: list[DeviceRecord]) -> None:
        """Write these device records as given (insert or overwrite)."""
        if not devices:
            return
        # Through prepare_batch for the same scrubbing and lock order as commit_batch.
        prepared = prepare_batch(IngestBatch(devices={d.device_id: d for d in devices}))
        async with self._connection("upsert devices") as conn:
            await conn.execute(QUERIES["upsert_devices"], _device_columns(prepared.devices))

    async def latest_values(
        self, device_ids: list[str] | None = None,
    ) -> dict[str, list[LatestValue]]:
        """Latest value per metric (sorted by metric), per device; all devices when None.
        Devices without telemetry are absent from the result."""
        if device_ids is None:
            rows = await self._fetch("latest values", QUERIES["latest_values"])
        elif not device_ids:
            return {}
        else:
            rows = await self._fetch("latest values", QUERIES["latest_values_of"],
                                     {"device_ids": list(device_ids)})
        result: dict[str, list[LatestValue]] = {}
        for row in rows:
            result.setdefault(row["device_id"], []).append(
                LatestValue(row["metric"], row["ts_ms"], row["value"]))
        return result

    # -- telemetry and events -----------------------------------------------------------------

    async def telemetry_series(
        self, device_id: str, metric: str, from_ms: int, to_ms: int, bucket_s: int,
    ) -> list[TelemetryBucket]:
        """Buckets of ``bucket_s`` seconds aligned on the epoch, oldest first, empty ones
        omitted, over ``from_ms`` (inclusive) to ``to_ms`` (exclusive). ``count`` counts
        samples of any type, avg/min/max the numeric ones; ``last`` is the newest sample's
        value (numbers as floats).

        On TimescaleDB, buckets of whole minutes are served from the continuous aggregate
        telemetry_1m (raw rows for the part-minutes at the ends of the range), so a long
        range reads one row per minute instead of every sample.
        """
        if bucket_s < 1:
            raise ValueError("bucket_s must be at least 1")
        if from_ms >= to_ms:
            return []
        params = {"device_id": device_id, "metric": metric, "from_ms": from_ms, "to_ms": to_ms,
                  "bucket_s": bucket_s}
        inner_from = -(-from_ms // _MS_PER_MINUTE) * _MS_PER_MINUTE  # first whole minute
        inner_to = to_ms // _MS_PER_MINUTE * _MS_PER_MINUTE          # end of the last one
        if (bucket_s % 60 == 0 and inner_from < inner_to
                and await self.telemetry_storage() == "timescaledb"):
            rows = await self._series_from_minutes(params, inner_from, inner_to)
        else:
            rows = await self._fetch("telemetry series", QUERIES["telemetry_series"], params)
        return [
            TelemetryBucket(
                bucket_start_ms=r["bucket_start_ms"], count=r["samples"], avg=r["avg_num"],
                min=r["min_num"], max=r["max_num"],
                last=_typed_value(r["value_num"], r["value_text"], r["value_bool"]),
            )
            for r in rows
        ]

    async def _series_from_minutes(self, params: dict[str, Any], inner_from: int,
                                   inner_to: int) -> list[Row]:
        """telemetry_series_1m, after refreshing the aggregate over the settled part of the
        range. The aggregate's refresh policy takes in late samples (an edge agent's outbox
        after an outage) at its next run, a minute later at best (five on PostgreSQL 15.20:
        docs/deployment.md); refreshing here puts them in this answer already.
        The last minute is left out: it is still filling, and refreshing it would move the
        aggregate's invalidation threshold into the range being written (every new sample
        would then log an invalidation). Minutes past the last refresh are aggregated from
        raw rows at query time (a real-time aggregate), so they need none."""
        settled_to = min(inner_to, (int(time.time() * 1000) - _MS_PER_MINUTE)
                         // _MS_PER_MINUTE * _MS_PER_MINUTE)
        async with self._connection("telemetry series") as conn:
            if settled_to - inner_from >= _MS_PER_MINUTE:
                try:
                    await conn.execute(QUERIES["refresh_telemetry_1m"],
                                       {"from_ms": inner_from, "to_ms": settled_to})
                except psycopg.OperationalError:
                    raise
                except psycopg.Error as exc:
                    # The answer may then miss late samples the policy has not taken in yet.
                    logger.warning("could not refresh telemetry_1m before reading it: %s", exc)
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(QUERIES["telemetry_series_1m"], {
                    **params, "inner_from_ms": inner_from, "inner_to_ms": inner_to})
                return await cur.fetchall()

    async def list_events(
        self, device_id: str | None, limit: int, before_ms: int | None = None,
    ) -> list[dict[str, object]]:
        """Events newest first (by device time), each as a dict with event_id, device_id,
        ts_ms, type, data and received_ms; only those before ``before_ms`` when given."""
        conditions: list[sql.Composable] = []
        if device_id is not None:
            conditions.append(sql.SQL("device_id = %(device_id)s"))
        if before_ms is not None:
            conditions.append(sql.SQL("ts < hall_ts(%(before_ms)s)"))
        query = sql.SQL(QUERIES["list_events"]).format(where=_where(conditions))
        rows = await self._fetch("list events", query, {
            "device_id": device_id, "before_ms": before_ms, "limit": max(limit, 0)})
        return [dict(r) for r in rows]

    # -- alarms ---------------------------------------------------------------------------------

    async def raise_alarm(
        self, device_id: str, type: str, severity: AlarmSeverity, details: dict[str, object],
        at_ms: int,
    ) -> tuple[Alarm, bool]:
        """Create the active alarm for (device, type) or bump the active one; atomic even
        when several controllers raise it at once. Returns (alarm, created)."""
        row = await self._fetch_one("raise alarm", QUERIES["raise_alarm"], {
            "device_id": device_id, "type": type, "severity": severity.value,
            "details": Jsonb(scrub_json(details)), "at_ms": at_ms,
        })
        assert row is not None  # INSERT ... ON CONFLICT DO UPDATE always returns the row
        alarm = _alarm(row)
        return alarm, alarm.count == 1

    async def clear_alarm_by_type(self, device_id: str, type: str, at_ms: int,
                                  by: str) -> Alarm | None:
        """Clear the active alarm of that type on that device; None if there is none."""
        row = await self._fetch_one("clear alarm", QUERIES["clear_alarm_by_type"], {
            "device_id": device_id, "type": type, "at_ms": at_ms, "by": by})
        return None if row is None else _alarm(row)

    async def ack_alarm(self, alarm_id: int, at_ms: int, by: str) -> Alarm:
        """Acknowledge; raises NotFound; a second ack returns the alarm unchanged."""
        return await self._change_alarm("ack_alarm", alarm_id, at_ms, by)

    async def clear_alarm(self, alarm_id: int, at_ms: int, by: str) -> Alarm:
        """Clear; raises NotFound; a second clear returns the alarm unchanged."""
        return await self._change_alarm("clear_alarm", alarm_id, at_ms, by)

    async def _change_alarm(self, query: str, alarm_id: int, at_ms: int, by: str) -> Alarm:
        async with self._connection(query) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(QUERIES[query], {"id": alarm_id, "at_ms": at_ms, "by": by})
            row = await cur.fetchone()
            if row is None:  # already in that state, or no such alarm
                await cur.execute(QUERIES["get_alarm"], {"id": alarm_id})
                row = await cur.fetchone()
        if row is None:
            raise NotFound(f"alarm {alarm_id} does not exist")
        return _alarm(row)

    async def get_alarm(self, alarm_id: int) -> Alarm | None:
        row = await self._fetch_one("get alarm", QUERIES["get_alarm"], {"id": alarm_id})
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
        query = sql.SQL(QUERIES["list_alarms"]).format(where=_where(conditions))
        rows = await self._fetch("list alarms", query, {
            "status": None if status is None else status.value, "acknowledged": acknowledged,
            "device_id": device_id, "limit": max(limit, 0)})
        return [_alarm(r) for r in rows]

    # -- commands -------------------------------------------------------------------------------

    async def insert_command(self, command: CommandRecord) -> None:
        """Store a new command; raises Conflict if its id is already taken."""
        try:
            async with self._connection("insert command") as conn:
                await conn.execute(QUERIES["insert_command"], _command_params(command))
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"command {command.command_id} already exists") from exc

    async def update_command(self, command: CommandRecord) -> None:
        """Overwrite a stored command with this record; raises NotFound if it is not stored."""
        async with self._connection("update command") as conn:
            cur = await conn.execute(QUERIES["update_command"], _command_params(command))
            if cur.rowcount == 0:
                raise NotFound(f"command {command.command_id} does not exist")

    async def get_command(self, command_id: str) -> CommandRecord | None:
        row = await self._fetch_one("get command", QUERIES["get_command"],
                                    {"command_id": command_id})
        return None if row is None else _command(row)

    async def list_commands(self, device_id: str, limit: int = 100) -> list[CommandRecord]:
        """The device's commands, newest first."""
        rows = await self._fetch("list commands", QUERIES["list_commands"],
                                 {"device_id": device_id, "limit": max(limit, 0)})
        return [_command(r) for r in rows]

    # -- dead letters ---------------------------------------------------------------------------

    async def list_dead_letters(self, limit: int = 100,
                                device_id: str | None = None) -> list[StoredDeadLetter]:
        """Dead letters newest first, with the start of each payload as text."""
        conditions: list[sql.Composable] = []
        if device_id is not None:
            conditions.append(sql.SQL("device_id = %(device_id)s"))
        query = sql.SQL(QUERIES["list_dead_letters"]).format(where=_where(conditions))
        rows = await self._fetch("list dead letters", query, {
            "device_id": device_id, "limit": max(limit, 0),
            "preview_bytes": PAYLOAD_PREVIEW_BYTES})
        return [
            StoredDeadLetter(
                id=r["id"], received_ms=r["received_ms"], topic=r["topic"],
                device_id=r["device_id"], reason=r["reason"],
                payload_preview=payload_preview(bytes(r["payload_start"])), size=r["size"],
            )
            for r in rows
        ]

    async def count_dead_letters_by_reason(self) -> dict[str, int]:
        """Counts keyed by the reason's category (the text before the first ':')."""
        rows = await self._fetch("count dead letters", QUERIES["count_dead_letters_by_reason"])
        return {r["category"]: r["n"] for r in rows}

    # -- users ----------------------------------------------------------------------------------

    async def get_user(self, username: str) -> User | None:
        row = await self._fetch_one("get user", QUERIES["get_user"], {"username": username})
        if row is None:
            return None
        return User(row["username"], row["password_hash"], Role(row["role"]), row["disabled"])

    async def upsert_user(self, user: User) -> None:
        async with self._connection("upsert user") as conn:
            await conn.execute(QUERIES["upsert_user"], {
                "username": user.username, "password_hash": user.password_hash,
                "role": user.role.value, "disabled": user.disabled})

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
        async with self._connection("maintain storage") as conn, conn.transaction():
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

    async def telemetry_storage(self) -> str:
        """How raw telemetry is stored: "partitioned" (native) or "timescaledb"."""
        if self._storage is None:
            # Chosen once by migration 0002: asked once.
            row = await self._fetch_one("telemetry storage", QUERIES["telemetry_storage"])
            if row is None:
                return "unknown"
            self._storage = str(row["storage"])
        return self._storage


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


def _where(conditions: Iterable[sql.Composable]) -> sql.Composable:
    conditions = list(conditions)
    if not conditions:
        return sql.SQL("")
    return sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions)


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


def _typed_value(num: float | None, text: str | None, flag: bool | None) -> TelemetryScalar | None:
    if flag is not None:
        return flag
    if num is not None:
        return num
    return text


def _alarm(row: Row) -> Alarm:
    return Alarm(
        id=row["id"], device_id=row["device_id"], type=row["type"],
        severity=AlarmSeverity(row["severity"]), status=AlarmStatus(row["status"]),
        acknowledged=row["acknowledged"], raised_ms=row["raised_ms"],
        updated_ms=row["updated_ms"], count=row["count"], details=row["details"],
        cleared_ms=row["cleared_ms"], acked_ms=row["acked_ms"], acked_by=row["acked_by"],
        cleared_by=row["cleared_by"],
    )


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
    }


def _command(row: Row) -> CommandRecord:
    return CommandRecord(
        command_id=row["command_id"], device_id=row["device_id"], method=row["method"],
        params=row["params"], status=CommandStatus(row["status"]), created_ms=row["created_ms"],
        expires_at_ms=row["expires_at_ms"], requested_by=row["requested_by"],
        sent_ms=row["sent_ms"], completed_ms=row["completed_ms"], result=row["result"],
        error=row["error"],
    )
