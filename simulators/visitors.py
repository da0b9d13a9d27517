"""Visitors arriving at the hall's kiosks: a Poisson process per service.

A ``VisitorPlan`` says how many visitors per hour want each service (in simulated time) and how
many of them identify themselves or come by the green channel. Every simulated kiosk given a
plan runs one arrival process per service at ``rate / kiosks``: the superposition of the
kiosks' processes is again a Poisson process with the hall's rate, so the controller sees the
arrivals the plan describes, through real ``ticket.take`` requests over MQTT.

With a ``DayProfile`` the rate follows the hall's local hour (a morning peak, a lunch dip): the
arrivals are then a non-homogeneous Poisson process, drawn by thinning (candidates at the
peak rate, each kept with probability rate now / peak rate).
"""

from __future__ import annotations

import logging
import random
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

# Replies a kiosk keeps for inspection (tests, a debugger); older ones are forgotten.
RECENT_REPLIES = 100
# Requests of one kiosk still waiting for a reply; past this a new visitor walks away instead
# of piling up tasks while the controller is unreachable (each request waits ``timeout_s``).
MAX_IN_FLIGHT = 16


# How busy a campus service hall is by local hour, as a factor of an ordinary hour's rate:
# students come before and between the morning's classes (the peak at 9-11), few over lunch
# (the windows stay open), a smaller rise in the afternoon, a quiet last half hour.
HALL_DAY_WEIGHTS: Mapping[int, float] = MappingProxyType({
    8: 0.8, 9: 1.6, 10: 1.5, 11: 1.1, 12: 0.4, 13: 0.7, 14: 0.9, 15: 1.0, 16: 0.8, 17: 0.5,
})
# Outside those hours: the demo keeps the hall open at any hour (queue.always_open) at an
# ordinary hour's pace, so a demo started in the evening has something to watch too.
OFF_HOURS_WEIGHT = 1.0


@dataclass(frozen=True, slots=True)
class DayProfile:
    """Arrival intensity by the hall's local hour, as a factor of the plan's rates."""

    timezone: str = "Asia/Shanghai"
    # local hour (0-23) → factor
    weights: Mapping[int, float] = field(default_factory=lambda: HALL_DAY_WEIGHTS)
    off_hours: float = OFF_HOURS_WEIGHT               # hours not in ``weights``

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # unknown zones fail here, not at the first arrival
        if self.off_hours < 0 or any(w < 0 or not 0 <= h <= 23 for h, w in self.weights.items()):
            raise ValueError("profile weights must not be negative, hours must be 0-23")

    def weight_at(self, at_ms: int) -> float:
        local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(ZoneInfo(self.timezone))
        return self.weights.get(local.hour, self.off_hours)

    @property
    def peak(self) -> float:
        return max([self.off_hours, *self.weights.values()])


@dataclass(frozen=True, slots=True)
class VisitorPlan:
    """Who comes to the hall: ``rates_per_hour`` by service code, in simulated time.

    ``speed`` runs simulated time faster than the clock (10: an hour of visitors in six
    minutes). ``kiosks`` is how many kiosks share the arrivals. ``identity_share`` of the
    visitors identify themselves with a person id (their online cases get linked),
    ``priority_share`` come by the green channel.
    """

    rates_per_hour: Mapping[str, float]
    speed: float = 1.0
    kiosks: int = 1
    identity_share: float = 0.3
    priority_share: float = 0.1
    timeout_s: float = 10.0
    profile: DayProfile | None = None   # None: the same rate at every hour

    def __post_init__(self) -> None:
        if self.speed <= 0 or self.kiosks < 1 or self.timeout_s <= 0:
            raise ValueError("speed and timeout_s must be positive, kiosks at least 1")
        if any(rate < 0 for rate in self.rates_per_hour.values()):
            raise ValueError("visitor rates must not be negative")
        for share in (self.identity_share, self.priority_share):
            if not 0.0 <= share <= 1.0:
                raise ValueError("shares must be from 0 to 1")

    @classmethod
    def even(cls, services: list[str], visitors_per_hour: float, **kwargs: Any) -> VisitorPlan:
        """``visitors_per_hour`` split evenly across ``services``."""
        if not services:
            return cls({}, **kwargs)
        return cls(dict.fromkeys(services, visitors_per_hour / len(services)), **kwargs)

    def rate_per_s(self, service: str, at_ms: int | None = None) -> float:
        """One kiosk's arrival rate for ``service``, per wall-clock second; with a profile,
        at the hall's local time ``at_ms`` (None: an ordinary hour's)."""
        base = self.rates_per_hour.get(service, 0.0) * self.speed / 3600.0 / self.kiosks
        if self.profile is None or at_ms is None:
            return base
        return base * self.profile.weight_at(at_ms)

    def peak_rate_per_s(self, service: str) -> float:
        """The highest rate of the day (thinning draws candidates at this rate)."""
        base = self.rate_per_s(service)
        return base if self.profile is None else base * self.profile.peak


@dataclass(slots=True)
class VisitorStats:
    """What one kiosk's visitors got: counters, and the latest replies (newest last)."""

    arrived: int = 0
    taken: int = 0
    refused: Counter[str] = field(default_factory=Counter)   # by error code
    timed_out: int = 0
    walked_away: int = 0     # arrived while MAX_IN_FLIGHT requests were still unanswered
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_REPLIES))


def visitor_params(service: str, plan: VisitorPlan, rng: random.Random) -> dict[str, Any]:
    """The ``ticket.take`` params of one visitor: maybe a person id, maybe green channel."""
    params: dict[str, Any] = {"service": service}
    if rng.random() < plan.identity_share:
        params["identity"] = {"type": "person_id", "value": person_id(rng)}
    if rng.random() < plan.priority_share:
        params["priority"] = True
    return params


def person_id(rng: random.Random) -> str:
    """A campus person id like ``2023010001``: entry year, college, number."""
    return f"{rng.randint(2020, 2025)}{rng.randint(1, 12):02d}{rng.randint(1, 400):04d}"


__all__ = ["HALL_DAY_WEIGHTS", "MAX_IN_FLIGHT", "DayProfile", "VisitorPlan", "VisitorStats",
           "person_id", "visitor_params"]
