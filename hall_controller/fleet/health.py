"""Health: is the controller connected, is the database answering, what has it counted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from devices.contract import now_ms
from hall_controller.fleet.metrics import IngestCounters
from hall_controller.fleet.ports import HallStore


class HealthService:
    """Implements the ``HealthProbe`` port."""

    def __init__(self, store: HallStore, counters: IngestCounters,
                 broker_connected: Callable[[], bool], queue_depth: Callable[[], int],
                 devices_online: Callable[[], tuple[int, int]]) -> None:
        self._store = store
        self._counters = counters
        self._broker_connected = broker_connected
        self._queue_depth = queue_depth
        self._devices_online = devices_online
        self._started_ms = now_ms()

    async def health(self) -> dict[str, object]:
        try:
            async with asyncio.timeout(2):
                database = await self._store.ping()
        except Exception:
            database = False
        broker = self._broker_connected()
        online, total = self._devices_online()
        return {
            "status": "ok" if database and broker else "degraded",
            "components": {"database": "up" if database else "down",
                           "broker": "up" if broker else "down"},
            "uptime_s": (now_ms() - self._started_ms) // 1000,
            "devices": {"online": online, "total": total},
            "queue_depth": self._queue_depth(),
            "counters": self._counters.as_dict(),
        }
