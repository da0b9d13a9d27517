"""Visitors arriving at the hall's kiosks: a Poisson process per service.

A ``VisitorPlan`` says how many visitors per hour want each service (in simulated time) and how
many of them identify themselves or come by the green channel. Every simulated kiosk given a
plan runs one arrival process per service at ``rate / kiosks``: the superposition of the
kiosks' processes is again a Poisson process with the hall's rate, so the controller sees the
arrivals the plan describes, through real ``ticket.take`` requests over MQTT.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

# Replies a kiosk keeps for inspection (tests, a debugger); older ones are forgotten.
RECENT_REPLIES = 100
# Requests of one kiosk still waiting for a reply; past this a new visitor walks away instead
# of piling up tasks while the controller is unreachable (each request waits ``timeout_s``).
MAX_IN_FLIGHT = 16


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

    def rate_per_s(self, service: str) -> float:
        """One kiosk's arrival rate for ``service``, per wall-clock second."""
        return self.rates_per_hour.get(service, 0.0) * self.speed / 3600.0 / self.kiosks


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


__all__ = ["MAX_IN_FLIGHT", "VisitorPlan", "VisitorStats", "person_id", "visitor_params"]
