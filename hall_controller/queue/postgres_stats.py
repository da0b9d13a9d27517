"""The queue's figures over PostgreSQL (``queue.ports``): the wait estimate's inputs and the
daily statistics, computed in the database from tickets and their transitions.

Over an open pool it does not own (``PostgresStore.pool``): the composition root shares one
pool per process. Connection trouble becomes ``StoreUnavailable``, as in ``PostgresStore``.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from hall_controller.kernel.postgres.connections import fetch_all
from hall_controller.queue.ports import BusyWindow, ServiceDayStats, WaitInputs
from hall_controller.queue.queries import QUERIES


class PostgresStatsStore:
    """``WaitInputsSource`` and ``StatsStore`` over PostgreSQL."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def wait_inputs(self, service_day: str, keep: int) -> WaitInputs:
        recent: dict[str, list[float]] = {}
        for row in await fetch_all(self._pool, "recent service times",
                                   QUERIES["wait_recent_service_times"], {"keep": keep}):
            recent.setdefault(row["service_code"], []).append(float(row["occupied_s"]))
        waiting: dict[str, int] = {}
        busy: dict[str, BusyWindow] = {}
        for row in await fetch_all(self._pool, "queue state", QUERIES["wait_day_state"],
                                   {"service_day": service_day}):
            if row["kind"] == "waiting":
                waiting[row["service_code"]] = int(row["n"])
            else:
                busy[row["window_id"]] = BusyWindow(row["service_code"], int(row["since_ms"]))
        return WaitInputs({code: tuple(xs) for code, xs in recent.items()}, waiting, busy)

    async def service_day_stats(self, service_day: str) -> list[ServiceDayStats]:
        rows = await fetch_all(self._pool, "service statistics", QUERIES["service_day_stats"],
                               {"service_day": service_day})
        return [
            ServiceDayStats(
                service_code=r["service_code"], service_day=service_day,
                target_wait_s=int(r["target_wait_s"]), tickets=int(r["tickets"]),
                called=int(r["called"]), served=int(r["served"]), no_shows=int(r["no_shows"]),
                mean_wait_s=r["mean_wait_s"], p90_wait_s=r["p90_wait_s"],
                mean_service_s=r["mean_service_s"], service_level=r["service_level"],
                no_show_rate=r["no_show_rate"], linked=int(r["linked"]),
                pending=int(r["pending"]))
            for r in rows
        ]
