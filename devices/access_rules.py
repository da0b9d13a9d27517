"""Access rules as an edge device holds them: who may pass here, when, and in which door mode.

The controller compiles its groups × doors × schedules into one ``AccessPolicy`` per device and
syncs it (``access.sync``) together with the face gallery; the gate or lock then decides from it
alone, so it keeps deciding while the controller or the broker is away. Pure: no I/O, and the
clock is always passed in.

Wire form (the ``policy`` of an ``access.sync`` result)::

    {"version": 7, "timezone": "Asia/Shanghai", "mode": "normal",
     "holidays": ["2026-10-01"],
     "schedules": {"office": {"windows": [{"days": [1,2,3,4,5], "start": "08:00", "end": "18:00"}],
                              "from": "2026-09-01", "until": null, "on_holidays": false}},
     "people": [{"person_id": "s2024001", "schedules": ["office"], "valid_from_ms": null,
                 "valid_until_ms": null, "cards": ["9001234567"]}]}

``"always"`` is a built-in schedule: every day, all day, holidays included.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ALWAYS = "always"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
MAX_PEOPLE = 500_000


class DoorMode(StrEnum):
    NORMAL = "normal"
    LOCKED_DOWN = "locked_down"  # nobody in by credential; egress still free (fail-safe)
    # Open to all, e.g. during a fire drill or an open day.
    FREE_PASS = "free_pass"  # noqa: S105 - a door mode, not a password


class Reason(StrEnum):
    """Why a decision came out as it did; audited and shown on the gate screen."""

    ALLOWED = "allowed"
    FREE_PASS = "free_pass"  # noqa: S105 - a door mode, not a password
    UNKNOWN_PERSON = "unknown_person"      # not in this device's list: no rule lets them in here
    NOT_YET_VALID = "not_yet_valid"
    PASS_EXPIRED = "pass_expired"  # noqa: S105 - a visitor pass
    OUTSIDE_SCHEDULE = "outside_schedule"
    LOCKED_DOWN = "locked_down"


@dataclass(frozen=True, slots=True)
class Decision:
    granted: bool
    reason: Reason
    person_id: str | None = None


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Days (ISO weekdays, 1 = Monday) and a time span. An end at or before the start runs past
    midnight into the next day (a night-shift window 22:00–06:00 belongs to its start day)."""

    days: frozenset[int]
    start: dt.time
    end: dt.time | None  # None = 24:00

    def contains(self, moment: dt.datetime) -> bool:
        t = moment.time()
        day = moment.isoweekday()
        if self.end is None or self.end > self.start:
            return day in self.days and self.start <= t and (self.end is None or t < self.end)
        # Overnight: the evening part on a listed day, the morning part on the day after it.
        yesterday = 7 if day == 1 else day - 1
        return (day in self.days and t >= self.start) or (yesterday in self.days and t < self.end)


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    windows: tuple[TimeWindow, ...]
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None  # inclusive
    on_holidays: bool = False

    def allows(self, moment: dt.datetime, holidays: frozenset[dt.date]) -> bool:
        day = moment.date()
        if self.valid_from is not None and day < self.valid_from:
            return False
        if self.valid_until is not None and day > self.valid_until:
            return False
        # An overnight window that started before a holiday still ends normally: the holiday
        # check looks at the calendar day the moment falls on, which is what staff expect.
        if day in holidays and not self.on_holidays:
            return False
        return any(w.contains(moment) for w in self.windows)


ALWAYS_SCHEDULE = Schedule(ALWAYS, (TimeWindow(frozenset(range(1, 8)), dt.time(0, 0), None),),
                           on_holidays=True)


@dataclass(frozen=True, slots=True)
class PersonRights:
    person_id: str
    schedules: tuple[str, ...]
    valid_from_ms: int | None = None
    valid_until_ms: int | None = None  # a visitor pass ends here
    cards: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    version: int
    timezone: str = "Asia/Shanghai"
    mode: DoorMode = DoorMode.NORMAL
    schedules: Mapping[str, Schedule] = field(default_factory=dict)
    holidays: frozenset[dt.date] = frozenset()
    people: Mapping[str, PersonRights] = field(default_factory=dict)
    # Derived once at construction.
    _zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False)
    _cards: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", zoneinfo.ZoneInfo(self.timezone))  # unknown zone: raises
        object.__setattr__(self, "_cards", {card: p.person_id for p in self.people.values()
                                            for card in p.cards})

    def person_for_card(self, card: str) -> str | None:
        return self._cards.get(card)

    def decide(self, person_id: str | None, now_ms: int) -> Decision:
        """May ``person_id`` pass here at ``now_ms``? ``None`` is someone not recognised."""
        if self.mode is DoorMode.FREE_PASS:
            return Decision(True, Reason.FREE_PASS, person_id)
        if self.mode is DoorMode.LOCKED_DOWN:
            return Decision(False, Reason.LOCKED_DOWN, person_id)
        rights = self.people.get(person_id) if person_id is not None else None
        if rights is None:
            return Decision(False, Reason.UNKNOWN_PERSON, person_id)
        if rights.valid_from_ms is not None and now_ms < rights.valid_from_ms:
            return Decision(False, Reason.NOT_YET_VALID, person_id)
        if rights.valid_until_ms is not None and now_ms >= rights.valid_until_ms:
            return Decision(False, Reason.PASS_EXPIRED, person_id)
        moment = dt.datetime.fromtimestamp(now_ms / 1000, tz=self._zone)
        for name in rights.schedules:
            schedule = ALWAYS_SCHEDULE if name == ALWAYS else self.schedules.get(name)
            if schedule is not None and schedule.allows(moment, self.holidays):
                return Decision(True, Reason.ALLOWED, person_id)
        return Decision(False, Reason.OUTSIDE_SCHEDULE, person_id)

    # -- wire form ----------------------------------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "timezone": self.timezone,
            "mode": self.mode.value,
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "schedules": {name: schedule_to_wire(s) for name, s in self.schedules.items()},
            "people": [
                {"person_id": p.person_id, "schedules": list(p.schedules),
                 "valid_from_ms": p.valid_from_ms, "valid_until_ms": p.valid_until_ms,
                 "cards": list(p.cards)}
                for p in self.people.values()
            ],
        }

    @classmethod
    def from_wire(cls, obj: object) -> AccessPolicy:
        """Validate everything; ValueError naming the field otherwise."""
        body = _mapping(obj, "policy")
        version = _int(body.get("version"), "policy.version")
        timezone = body.get("timezone", "Asia/Shanghai")
        if not isinstance(timezone, str):
            raise ValueError("policy.timezone: expected a time zone name")
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"policy.timezone: unknown time zone {timezone!r}") from None
        try:
            mode = DoorMode(body.get("mode", "normal"))
        except ValueError:
            raise ValueError(f"policy.mode: expected one of {[m.value for m in DoorMode]}") from None
        holidays = frozenset(_date(d, "policy.holidays[]") for d in _list(body.get("holidays", []),
                                                                           "policy.holidays"))
        schedules = {name: schedule_from_wire(name, raw)
                     for name, raw in _mapping(body.get("schedules", {}), "policy.schedules").items()}
        people_raw = _list(body.get("people", []), "policy.people")
        if len(people_raw) > MAX_PEOPLE:
            raise ValueError(f"policy.people: more than {MAX_PEOPLE} people")
        people: dict[str, PersonRights] = {}
        for n, raw in enumerate(people_raw):
            rights = _person_from_wire(raw, f"policy.people[{n}]")
            if rights.person_id in people:
                raise ValueError(f"policy.people[{n}]: person {rights.person_id!r} listed twice")
            people[rights.person_id] = rights
        return cls(version, timezone, mode, schedules, holidays, people)


def schedule_to_wire(schedule: Schedule) -> dict[str, Any]:
    return {
        "windows": [{"days": sorted(w.days), "start": w.start.strftime("%H:%M"),
                     "end": "24:00" if w.end is None else w.end.strftime("%H:%M")}
                    for w in schedule.windows],
        "from": schedule.valid_from.isoformat() if schedule.valid_from else None,
        "until": schedule.valid_until.isoformat() if schedule.valid_until else None,
        "on_holidays": schedule.on_holidays,
    }


def schedule_from_wire(name: str, obj: object) -> Schedule:
    where = f"schedule {name!r}"
    if not isinstance(name, str) or not _ID.match(name):
        raise ValueError(f"{where}: a schedule name is 1-64 letters, digits, '.', '_', ':' or '-'")
    if name == ALWAYS:
        raise ValueError(f"{where}: 'always' is built in and cannot be redefined")
    body = _mapping(obj, where)
    windows_raw = _list(body.get("windows"), f"{where}.windows")
    if not windows_raw:
        raise ValueError(f"{where}.windows: at least one time window")
    windows: list[TimeWindow] = []
    for n, raw in enumerate(windows_raw):
        w = _mapping(raw, f"{where}.windows[{n}]")
        days = _list(w.get("days"), f"{where}.windows[{n}].days")
        if not days or any(not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= 7
                           for d in days):
            raise ValueError(f"{where}.windows[{n}].days: ISO weekdays 1 (Monday) to 7 (Sunday)")
        start = _hhmm(w.get("start"), f"{where}.windows[{n}].start")
        end = _hhmm(w.get("end"), f"{where}.windows[{n}].end")
        if start is None:
            raise ValueError(f"{where}.windows[{n}].start: 24:00 is only an end")
        if end is not None and end == start:
            raise ValueError(f"{where}.windows[{n}]: start and end are equal (use 00:00–24:00 "
                             "for the whole day)")
        windows.append(TimeWindow(frozenset(days), start, end))
    valid_from = _optional_date(body.get("from"), f"{where}.from")
    valid_until = _optional_date(body.get("until"), f"{where}.until")
    if valid_from and valid_until and valid_until < valid_from:
        raise ValueError(f"{where}: 'until' is before 'from'")
    on_holidays = body.get("on_holidays", False)
    if not isinstance(on_holidays, bool):
        raise ValueError(f"{where}.on_holidays: expected true or false")
    return Schedule(name, tuple(windows), valid_from, valid_until, on_holidays)


def _person_from_wire(obj: object, where: str) -> PersonRights:
    body = _mapping(obj, where)
    person_id = body.get("person_id")
    if not isinstance(person_id, str) or not _ID.match(person_id):
        raise ValueError(f"{where}.person_id: 1-64 letters, digits, '.', '_', ':' or '-'")
    schedules = _list(body.get("schedules", []), f"{where}.schedules")
    if any(not isinstance(s, str) for s in schedules):
        raise ValueError(f"{where}.schedules: names of schedules")
    cards = _list(body.get("cards", []), f"{where}.cards")
    if any(not isinstance(c, str) or not c for c in cards):
        raise ValueError(f"{where}.cards: card numbers as strings")
    return PersonRights(
        person_id, tuple(schedules),
        _optional_int(body.get("valid_from_ms"), f"{where}.valid_from_ms"),
        _optional_int(body.get("valid_until_ms"), f"{where}.valid_until_ms"),
        tuple(cards))


def people_rights(rows: Iterable[PersonRights]) -> dict[str, PersonRights]:
    return {r.person_id: r for r in rows}


# -- small validators ---------------------------------------------------------------------------

def _mapping(obj: object, where: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: expected an object")
    return obj


def _list(obj: object, where: str) -> list[Any]:
    if not isinstance(obj, list):
        raise ValueError(f"{where}: expected a list")
    return obj


def _int(obj: object, where: str) -> int:
    if not isinstance(obj, int) or isinstance(obj, bool):
        raise ValueError(f"{where}: expected an integer")
    return obj


def _optional_int(obj: object, where: str) -> int | None:
    return None if obj is None else _int(obj, where)


def _date(obj: object, where: str) -> dt.date:
    if not isinstance(obj, str):
        raise ValueError(f"{where}: expected a date YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(obj)
    except ValueError:
        raise ValueError(f"{where}: {obj!r} is not a date YYYY-MM-DD") from None


def _optional_date(obj: object, where: str) -> dt.date | None:
    return None if obj is None else _date(obj, where)


def _hhmm(obj: object, where: str) -> dt.time | None:
    """``HH:MM``; ``24:00`` (only meaningful as an end) is returned as None."""
    if not isinstance(obj, str) or not _HHMM.match(obj):
        raise ValueError(f"{where}: expected a time HH:MM (00:00-24:00)")
    if obj == "24:00":
        return None
    hours, minutes = obj.split(":")
    return dt.time(int(hours), int(minutes))
