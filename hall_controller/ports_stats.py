"""Ports of the queue's figures: what the wait estimate reads, and the daily statistics.

``adapters/postgres/stats_store.py`` implements both over PostgreSQL (computed in the
database, from tickets and their transitions), ``adapters/memory_stats.py`` in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BusyWindow:
    """A window with a ticket called to it or being served there."""

    service_code: str
    since_ms: int          # when that ticket was called: the window is occupied from then


@dataclass(frozen=True, slots=True)
class WaitInputs:
    """What ``domain.wait_estimate.estimate_wait_s`` needs from the database, for one day."""

    # Window-occupancy times (called → done, seconds) of each service's last completed
    # tickets, oldest first. Empty until clerks complete tickets.
    recent_service_s: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    waiting: Mapping[str, int] = field(default_factory=dict)       # tickets waiting, by service
    busy: Mapping[str, BusyWindow] = field(default_factory=dict)   # by window id


class WaitInputsSource(Protocol):
    async def wait_inputs(self, service_day: str, keep: int) -> WaitInputs:
        """The day's waiting counts and busy windows, and up to ``keep`` recent occupancy
        times per service (from any day: the last completions are the best guess)."""
        ...


@dataclass(frozen=True, slots=True)
class ServiceDayStats:
    """One service's figures for one service day (times in seconds; None when undefined)."""

    service_code: str
    service_day: str
    target_wait_s: int
    tickets: int                    # issued that day
    called: int                     # called at least once
    served: int                     # completed (done)
    no_shows: int
    mean_wait_s: float | None       # issued → first call, over the called tickets
    p90_wait_s: float | None        # continuous (interpolated) 90th percentile
    mean_service_s: float | None    # start serving → done, over the completed tickets
    service_level: float | None     # share of the called tickets called within target_wait_s
    no_show_rate: float | None      # no-shows / called
    # The online cases (一网通办) in the hall: tickets linked to at least one case, and tickets
    # completed as "pending materials" (补正: the visitor must bring something and come again).
    linked: int = 0
    pending: int = 0


class StatsStore(Protocol):
    async def service_day_stats(self, service_day: str) -> list[ServiceDayStats]:
        """Per service with tickets that day (and every active service, with zeros), by code."""
        ...
