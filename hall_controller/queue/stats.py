"""Daily statistics of the hall: per service (from the queue's tickets and transitions, computed
by the store) and the one-trip rate of the online cases resolved that day.

A day is the hall's local calendar day (``[queue] timezone``), the same day tickets are
numbered by, so the figures line up with the numbers printed on the slips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from typing import Protocol
from zoneinfo import ZoneInfo

from hall_controller.cases.rules import OneTripCounts
from hall_controller.queue.model import ServiceDef
from hall_controller.queue.ports import ServiceDayStats, StatsStore
from hall_controller.queue.service_day import (
    DEFAULT_ROLLOVER,
    service_day_at,
    service_day_end_ms,
    service_day_start_ms,
)


class OneTripSource(Protocol):
    """``CaseService.one_trip``: the cases resolved in [from_ms, to_ms) and their visits."""

    async def one_trip(self, from_ms: int, to_ms: int) -> OneTripCounts: ...


@dataclass(frozen=True, slots=True)
class ServiceName:
    """What a person reads for a service: its name, and its English name (pages in English)."""

    name: str
    name_en: str


@dataclass(frozen=True, slots=True)
class DayReport:
    service_day: str
    timezone: str
    from_ms: int       # the service day's first millisecond (its local rollover time)
    to_ms: int         # the next service day's first millisecond
    services: list[ServiceDayStats]
    # Hall-wide: a case is resolved once, whichever window served its visits. None when the
    # controller runs without the online-case integration.
    one_trip: OneTripCounts | None
    # By service code: the configured names (a service no longer configured: its code).
    names: Mapping[str, ServiceName] = field(default_factory=dict)

    def name_of(self, code: str) -> ServiceName:
        return self.names.get(code) or ServiceName(code, code)


class StatsService:
    def __init__(self, store: StatsStore, timezone: str,
                 one_trip: OneTripSource | None = None,
                 services: Sequence[ServiceDef] = (),
                 rollover_at: time = DEFAULT_ROLLOVER) -> None:
        """``services``: the configured services, whose names the report carries;
        ``rollover_at``: the local time a service day ends (``queue.rollover_at``)."""
        self._store = store
        self._names = {s.code: ServiceName(s.name, s.name_en or s.name) for s in services}
        self.timezone = timezone
        self._zone = ZoneInfo(timezone)
        self._one_trip = one_trip
        self._rollover = rollover_at

    def today(self, at_ms: int) -> date:
        """The hall's service day at ``at_ms`` (in its timezone, after its rollover), which a
        browser in another timezone, or before the rollover, would get wrong."""
        return date.fromisoformat(service_day_at(at_ms, self._zone, self._rollover))

    def day_bounds_ms(self, day: date) -> tuple[int, int]:
        """The service day ``day`` in ms: [its rollover, the next day's rollover), as its
        tickets count it; a case resolved at 00:40 belongs to the evening's day, not the
        next one. 23 or 25 hours on a DST change."""
        return (service_day_start_ms(day.isoformat(), self._zone, self._rollover),
                service_day_end_ms(day.isoformat(), self._zone, self._rollover))

    async def day(self, day: date) -> DayReport:
        """Every service's figures for ``day`` and the day's one-trip rate."""
        from_ms, to_ms = self.day_bounds_ms(day)
        services = await self._store.service_day_stats(day.isoformat())
        trips = None if self._one_trip is None else await self._one_trip.one_trip(from_ms, to_ms)
        return DayReport(day.isoformat(), self.timezone, from_ms, to_ms, services, trips,
                         self._names)
