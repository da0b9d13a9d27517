"""Access rules as a gate or lock applies them offline, and the controller's per-device compile."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from devices.access_rules import AccessPolicy, DoorMode, PersonRights, Reason, schedule_from_wire
from hall_controller.domain.access import AccessRule, AccessSnapshot, Person, Role, compile_for_device

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    """Milliseconds for a Shanghai wall-clock time."""
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).timestamp() * 1000)


OFFICE = schedule_from_wire("office", {"windows": [{"days": [1, 2, 3, 4, 5], "start": "08:00",
                                                    "end": "18:00"}]})
NIGHT = schedule_from_wire("night", {"windows": [{"days": [5], "start": "22:00", "end": "06:00"}],
                                     "on_holidays": True})


def policy(**people: tuple[str, ...]) -> AccessPolicy:
    return AccessPolicy(
        version=3, schedules={"office": OFFICE, "night": NIGHT},
        holidays=frozenset({dt.date(2026, 10, 1)}),
        people={pid: PersonRights(pid, schedules) for pid, schedules in people.items()})


def test_a_schedule_admits_inside_its_window_only() -> None:
    p = policy(s1=("office",))
    # 2026-11-27 is a Friday.
    assert p.decide("s1", at(2026, 11, 27, 9)).granted
    assert p.decide("s1", at(2026, 11, 27, 18)).reason is Reason.OUTSIDE_SCHEDULE  # end excluded
    assert p.decide("s1", at(2026, 11, 28, 9)).reason is Reason.OUTSIDE_SCHEDULE  # Saturday
    assert p.decide("nobody", at(2026, 11, 27, 9)).reason is Reason.UNKNOWN_PERSON
    assert p.decide(None, at(2026, 11, 27, 9)).reason is Reason.UNKNOWN_PERSON


def test_an_overnight_window_belongs_to_its_start_day() -> None:
    p = policy(guard=("night",))
    assert p.decide("guard", at(2026, 11, 27, 23)).granted        # Friday night
    assert p.decide("guard", at(2026, 11, 28, 5, 59)).granted     # early Saturday
    assert not p.decide("guard", at(2026, 11, 28, 6)).granted
    assert not p.decide("guard", at(2026, 11, 26, 23)).granted    # Thursday night


def test_holidays_close_schedules_unless_they_say_otherwise() -> None:
    p = policy(s1=("office",), guard=("night",), warden=("always",))
    holiday_thursday = at(2026, 10, 1, 10)
    assert p.decide("s1", holiday_thursday).reason is Reason.OUTSIDE_SCHEDULE
    assert p.decide("warden", holiday_thursday).granted  # 'always' includes holidays


def test_visitor_passes_start_and_expire() -> None:
    start, end = at(2026, 11, 27, 9), at(2026, 11, 27, 17)
    p = AccessPolicy(version=1, people={"v1": PersonRights("v1", ("always",), start, end)})
    assert p.decide("v1", start - 1).reason is Reason.NOT_YET_VALID
    assert p.decide("v1", start).granted
    assert p.decide("v1", end).reason is Reason.PASS_EXPIRED


def test_modes_override_rules_for_everyone() -> None:
    locked = AccessPolicy(version=1, mode=DoorMode.LOCKED_DOWN,
                          people={"s1": PersonRights("s1", ("always",))})
    assert locked.decide("s1", at(2026, 11, 27, 9)).reason is Reason.LOCKED_DOWN
    free = AccessPolicy(version=1, mode=DoorMode.FREE_PASS)
    assert free.decide(None, at(2026, 11, 27, 9)).granted


def test_the_wire_form_round_trips_and_refuses_bad_fields() -> None:
    p = AccessPolicy(version=9, schedules={"office": OFFICE}, holidays=frozenset({dt.date(2026, 10, 1)}),
                     people={"s1": PersonRights("s1", ("office",), None, None, ("90012345",))})
    again = AccessPolicy.from_wire(p.to_wire())
    assert again.to_wire() == p.to_wire()
    assert again.person_for_card("90012345") == "s1"
    bad = [
        ({**p.to_wire(), "version": "9"}, "policy.version"),
        ({**p.to_wire(), "timezone": "Mars/Olympus"}, "policy.timezone"),
        ({**p.to_wire(), "mode": "open"}, "policy.mode"),
        ({**p.to_wire(), "holidays": ["1 Oct"]}, "policy.holidays"),
        ({**p.to_wire(), "people": [{"person_id": "s1"}, {"person_id": "s1"}]}, "twice"),
        ({**p.to_wire(), "people": [{"person_id": ""}]}, "person_id"),
        ({**p.to_wire(), "schedules": {"x": {"windows": [{"days": [1], "start": "25:00",
                                                          "end": "26:00"}]}}}, "start"),
        ({**p.to_wire(), "schedules": {"x": {"windows": []}}}, "at least one"),
        ({**p.to_wire(), "schedules": {"always": {"windows": [{"days": [1], "start": "08:00",
                                                               "end": "09:00"}]}}}, "built in"),
        ([], "expected an object"),
    ]
    for wire, words in bad:
        with pytest.raises(ValueError, match=words):
            AccessPolicy.from_wire(wire)


def test_a_device_gets_only_the_people_its_rules_cover() -> None:
    snapshot = AccessSnapshot(
        version=12,
        people=[Person("s1", "A", Role.STUDENT, ("dorm-b3",), ("111111",)),
                Person("s2", "B", Role.STUDENT, ("dorm-b5",)),
                Person("w1", "C", Role.STAFF, ("wardens", "dorm-b3"))],
        rules=[AccessRule(1, "dorm-b3", "lock-b3-*", "office"),
               AccessRule(2, "wardens", "lock-*", "always"),
               AccessRule(3, "dorm-b5", "lock-b5-*", "deleted-schedule")],
        schedules={"office": OFFICE, "night": NIGHT},
        holidays=frozenset(), modes={"lock-b3-0412": DoorMode.LOCKED_DOWN})
    b3 = compile_for_device(snapshot, "lock-b3-0412", "Asia/Shanghai")
    assert set(b3.people) == {"s1", "w1"}
    assert b3.people["w1"].schedules == ("always", "office")
    assert set(b3.schedules) == {"office"}  # night is nobody's here: not sent
    assert b3.mode is DoorMode.LOCKED_DOWN and b3.version == 12
    assert b3.person_for_card("111111") == "s1"
    b5 = compile_for_device(snapshot, "lock-b5-0101", "Asia/Shanghai")
    # The dorm-b5 rule names a schedule that no longer exists: it grants nothing.
    assert set(b5.people) == {"w1"}
