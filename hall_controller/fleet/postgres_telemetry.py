"""``TelemetryQueries`` over PostgreSQL: telemetry buckets and the event log, read back.

Over an open pool it does not own (``PostgresStore`` builds one over its pool). What is
stored, and how redelivered samples and events are told apart, is ``PostgresStore``'s
business (``commit_batch``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from hall_controller.fleet.model import TelemetryBucket, TelemetryScalar
from hall_controller.fleet.queries import QUERIES
from hall_controller.kernel.postgres.connections import (
    Row,
    connection,
    fetch_all,
    fetch_one,
)
from hall_controller.kernel.postgres.queries import where_clause

logger = logging.getLogger(__name__)

_MS_PER_MINUTE = 60_000


class PostgresTelemetryQueries:
    """Telemetry series and device events, read from the controller's database."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._storage: str | None = None  # telemetry_storage(), once known (it never changes)

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
            rows = await fetch_all(self._pool, "telemetry series", QUERIES["telemetry_series"],
                                   params)
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
        async with connection(self._pool, "telemetry series") as conn:
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
        query = sql.SQL(QUERIES["list_events"]).format(where=where_clause(conditions))
        rows = await fetch_all(self._pool, "list events", query, {
            "device_id": device_id, "before_ms": before_ms, "limit": max(limit, 0)})
        return [dict(r) for r in rows]

    async def telemetry_storage(self) -> str:
        """How raw telemetry is stored: "partitioned" (native) or "timescaledb"."""
        if self._storage is None:
            # Chosen once by migration 0002: asked once.
            row = await fetch_one(self._pool, "telemetry storage", QUERIES["telemetry_storage"])
            if row is None:
                return "unknown"
            self._storage = str(row["storage"])
        return self._storage


def _typed_value(num: float | None, text: str | None, flag: bool | None) -> TelemetryScalar | None:
    if flag is not None:
        return flag
    if num is not None:
        return num
    return text
