"""The service day: which queue day an instant belongs to (numbers restart per service day).

A hall's day does not end at midnight UTC, nor at local midnight: tickets taken at 00:30 in a
hall that stays open late (or the always-open demo) still belong to the evening's queue. The
day ends at the configured local rollover time (``queue.rollover_at``, 03:00 by default, in
``queue.timezone``): everything before it counts as the previous service day. Pure functions,
no clock, so the boundary can be tested at any instant and across DST changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_ROLLOVER = time(3, 0)


def service_day_at(at_ms: int, zone: ZoneInfo, rollover: time = DEFAULT_ROLLOVER) -> str:
    """The service day (ISO date) of the instant ``at_ms``: the local date, shifted back one
    day before the local rollover time."""
    local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(zone)
    day = local.date()
    if local.time() < rollover:
        day -= timedelta(days=1)
    return day.isoformat()


def service_day_start_ms(day: str, zone: ZoneInfo, rollover: time = DEFAULT_ROLLOVER) -> int:
    """The instant the service day ``day`` begins (its local rollover time).

    A rollover time skipped by a DST jump resolves as ``zoneinfo`` does (fold 0), which is
    the same instant ``service_day_at`` switches at.
    """
    start = datetime.combine(date.fromisoformat(day), rollover, tzinfo=zone)
    return int(start.timestamp() * 1000)


def service_day_end_ms(day: str, zone: ZoneInfo, rollover: time = DEFAULT_ROLLOVER) -> int:
    """The instant the service day ``day`` ends: the next day's start (exclusive)."""
    following = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    return service_day_start_ms(following, zone, rollover)
