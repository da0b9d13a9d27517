"""Access rules as a gate or lock applies them offline, and the controller's per-device compile."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from devices import access_rules
from devices.access_rules import (
    AccessPolicy,
    Decision,
    DoorMode,
    PersonRights,
    Reason,
    Schedule,
    TimeWindow,
    schedule_from_wire,
)
from hall_controller.access.rules import AccessRule, AccessSnapshot, Person, Role, compile_for_device

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


# -- decisions at the edges of a schedule ------------------------------------------------------
# 2026-11-27 is a Friday, 2026-11-29 a Sunday, 2026-11-30 a Monday.

def one_window(days: list[int], start: str, end: str, **extra: object) -> AccessPolicy:
    schedule = schedule_from_wire("s", {"windows": [{"days": days, "start": start, "end": end}],
                                        **extra})
    return AccessPolicy(version=1, schedules={"s": schedule},
                        people={"p1": PersonRights("p1", ("s",))})


def test_a_window_opens_at_its_first_minute_and_minutes_count() -> None:
    p = one_window([5], "08:30", "09:00")
    assert p.decide("p1", at(2026, 11, 27, 8, 30)) == Decision(True, Reason.ALLOWED, "p1")
    assert p.decide("p1", at(2026, 11, 27, 8, 29)) == Decision(False, Reason.OUTSIDE_SCHEDULE, "p1")
    assert p.decide("p1", at(2026, 11, 27, 8, 15)).granted is False


def test_an_overnight_window_opens_at_its_start_minute() -> None:
    assert policy(guard=("night",)).decide("guard", at(2026, 11, 27, 22)).granted


def test_a_sunday_night_window_runs_on_into_monday_morning() -> None:
    sunday_night = one_window([7], "22:00", "06:00")
    assert sunday_night.decide("p1", at(2026, 11, 29, 23)).granted
    assert sunday_night.decide("p1", at(2026, 11, 30, 5, 59)).granted  # Monday morning
    assert not sunday_night.decide("p1", at(2026, 11, 30, 6)).granted
    assert not sunday_night.decide("p1", at(2026, 11, 29, 5)).granted  # Sunday morning: Saturday's
    monday_night = one_window([1], "22:00", "06:00")
    assert monday_night.decide("p1", at(2026, 12, 1, 5)).granted  # Tuesday morning
    assert not monday_night.decide("p1", at(2026, 11, 30, 5)).granted  # Monday morning: Sunday's


def test_a_whole_day_window_is_00_00_to_24_00() -> None:
    p = one_window([6], "00:00", "24:00")
    assert p.decide("p1", at(2026, 11, 28, 0)).granted
    assert p.decide("p1", at(2026, 11, 28, 23, 59)).granted
    assert not p.decide("p1", at(2026, 11, 29, 0)).granted


def test_a_window_ending_at_its_start_time_runs_a_full_day() -> None:
    # As TimeWindow documents: an end at or before the start runs into the next day.
    window = TimeWindow(frozenset({5}), dt.time(8, 0), dt.time(8, 0))
    friday_8 = dt.datetime(2026, 11, 27, 8, 0, tzinfo=SHANGHAI)
    assert window.contains(friday_8)
    assert window.contains(friday_8 + dt.timedelta(hours=23, minutes=59))
    assert not window.contains(friday_8 + dt.timedelta(hours=24))


def test_a_schedule_is_valid_from_its_first_to_its_last_day_inclusive() -> None:
    p = one_window([1, 2, 3, 4, 5, 6, 7], "00:00", "24:00", **{"from": "2026-11-27", "until": "2026-11-29"})
    assert not p.decide("p1", at(2026, 11, 26, 23, 59)).granted
    assert p.decide("p1", at(2026, 11, 27, 0)).granted    # the first day
    assert p.decide("p1", at(2026, 11, 29, 23, 59)).granted  # the last day, to its end
    assert p.decide("p1", at(2026, 11, 30, 0)) == Decision(False, Reason.OUTSIDE_SCHEDULE, "p1")


def test_every_decision_names_the_person_and_the_reason() -> None:
    friday_9 = at(2026, 11, 27, 9)
    p = AccessPolicy(version=1, schedules={"office": OFFICE}, people={
        "s1": PersonRights("s1", ("office",)),
        "v1": PersonRights("v1", ("always",), friday_9 + 1, friday_9 + 2)})
    assert p.decide("s1", friday_9) == Decision(True, Reason.ALLOWED, "s1")
    assert p.decide("s1", at(2026, 11, 28, 9)) == Decision(False, Reason.OUTSIDE_SCHEDULE, "s1")
    assert p.decide("x9", friday_9) == Decision(False, Reason.UNKNOWN_PERSON, "x9")
    assert p.decide("v1", friday_9) == Decision(False, Reason.NOT_YET_VALID, "v1")
    assert p.decide("v1", friday_9 + 2) == Decision(False, Reason.PASS_EXPIRED, "v1")
    locked = AccessPolicy(version=1, mode=DoorMode.LOCKED_DOWN, people=p.people)
    assert locked.decide("s1", friday_9) == Decision(False, Reason.LOCKED_DOWN, "s1")
    free = AccessPolicy(version=1, mode=DoorMode.FREE_PASS)
    assert free.decide("x9", friday_9) == Decision(True, Reason.FREE_PASS, "x9")


# -- the wire form (access.sync) ----------------------------------------------------------------

def test_the_wire_form_is_the_documented_one() -> None:
    camp = Schedule("camp", (TimeWindow(frozenset({6, 7}), dt.time(9, 30), None),
                             TimeWindow(frozenset({5}), dt.time(22, 0), dt.time(6, 0))),
                    dt.date(2026, 7, 1), dt.date(2026, 8, 31), on_holidays=True)
    p = AccessPolicy(version=7, timezone="Asia/Urumqi", mode=DoorMode.LOCKED_DOWN,
                     schedules={"camp": camp, "office": OFFICE},
                     holidays=frozenset({dt.date(2026, 10, 2), dt.date(2026, 10, 1)}),
                     people={"v1": PersonRights("v1", ("camp",), 1_780_000_000_000,
                                                1_790_000_000_000, ("9001", "9002"))})
    wire = {
        "version": 7, "timezone": "Asia/Urumqi", "mode": "locked_down",
        "holidays": ["2026-10-01", "2026-10-02"],
        "schedules": {
            "camp": {"windows": [{"days": [6, 7], "start": "09:30", "end": "24:00"},
                                 {"days": [5], "start": "22:00", "end": "06:00"}],
                     "from": "2026-07-01", "until": "2026-08-31", "on_holidays": True},
            "office": {"windows": [{"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "18:00"}],
                       "from": None, "until": None, "on_holidays": False}},
        "people": [{"person_id": "v1", "schedules": ["camp"], "valid_from_ms": 1_780_000_000_000,
                    "valid_until_ms": 1_790_000_000_000, "cards": ["9001", "9002"]}],
    }
    assert p.to_wire() == wire
    assert AccessPolicy.from_wire(wire) == p
    assert schedule_from_wire("camp", wire["schedules"]["camp"]) == camp  # type: ignore[index]


def test_a_minimal_wire_policy_takes_the_defaults() -> None:
    assert AccessPolicy.from_wire({"version": 1}) == AccessPolicy(
        version=1, timezone="Asia/Shanghai", mode=DoorMode.NORMAL)
    only_from = schedule_from_wire("s", {"windows": [{"days": [1], "start": "08:00", "end": "09:00"}],
                                         "from": "2026-09-01"})
    assert (only_from.valid_from, only_from.valid_until, only_from.on_holidays) == (
        dt.date(2026, 9, 1), None, False)
    one_day = schedule_from_wire("s", {"windows": [{"days": [1], "start": "08:00", "end": "09:00"}],
                                       "from": "2026-09-01", "until": "2026-09-01"})
    assert one_day.valid_until == dt.date(2026, 9, 1)


def sync(**fields: object) -> dict[str, object]:
    return {"version": 1, **fields}


def window(**fields: object) -> dict[str, object]:
    return {"schedules": {"x": {"windows": [{"days": [1], "start": "08:00", "end": "09:00", **fields}]}}}


@pytest.mark.parametrize(("wire", "message"), [
    ([], "policy: expected an object"),
    (sync(version="9"), "policy.version: expected an integer"),
    (sync(version=True), "policy.version: expected an integer"),
    (sync(timezone=8), "policy.timezone: expected a time zone name"),
    (sync(holidays="2026-10-01"), "policy.holidays: expected a list"),
    (sync(holidays=[20261001]), "policy.holidays[]: expected a date YYYY-MM-DD"),
    (sync(holidays=["1 Oct"]), "policy.holidays[]: '1 Oct' is not a date YYYY-MM-DD"),
    (sync(schedules=[]), "policy.schedules: expected an object"),
    (sync(people={}), "policy.people: expected a list"),
    (sync(people=[7]), "policy.people[0]: expected an object"),
    (sync(people=[{"person_id": "s1"}, {"person_id": "s1"}]), "policy.people[1]: person 's1' listed twice"),
    (sync(people=[{"person_id": "a b"}]),
     "policy.people[0].person_id: 1-64 letters, digits, '.', '_', ':' or '-'"),
    (sync(people=[{"person_id": "s1", "schedules": "office"}]),
     "policy.people[0].schedules: expected a list"),
    (sync(people=[{"person_id": "s1", "schedules": [3]}]), "policy.people[0].schedules: names of schedules"),
    (sync(people=[{"person_id": "s1", "cards": "9001"}]), "policy.people[0].cards: expected a list"),
    (sync(people=[{"person_id": "s1", "cards": [9001]}]), "policy.people[0].cards: card numbers as strings"),
    (sync(people=[{"person_id": "s1", "cards": [""]}]), "policy.people[0].cards: card numbers as strings"),
    (sync(people=[{"person_id": "s1", "valid_from_ms": "now"}]),
     "policy.people[0].valid_from_ms: expected an integer"),
    (sync(people=[{"person_id": "s1", "valid_until_ms": 1.5}]),
     "policy.people[0].valid_until_ms: expected an integer"),
    (sync(schedules={"bad name": {}}), "schedule 'bad name': a schedule name is 1-64 letters, digits, "
                                       "'.', '_', ':' or '-'"),
    (sync(schedules={"x": []}), "schedule 'x': expected an object"),
    (sync(schedules={"x": {"windows": {}}}), "schedule 'x'.windows: expected a list"),
    (sync(schedules={"x": {"windows": [[]]}}), "schedule 'x'.windows[0]: expected an object"),
    (sync(**window(days=1)), "schedule 'x'.windows[0].days: expected a list"),
    (sync(**window(days=[])), "schedule 'x'.windows[0].days: ISO weekdays 1 (Monday) to 7 (Sunday)"),
    (sync(**window(days=[True])), "schedule 'x'.windows[0].days: ISO weekdays 1 (Monday) to 7 (Sunday)"),
    (sync(**window(days=["1"])), "schedule 'x'.windows[0].days: ISO weekdays 1 (Monday) to 7 (Sunday)"),
    (sync(**window(days=[8])), "schedule 'x'.windows[0].days: ISO weekdays 1 (Monday) to 7 (Sunday)"),
    (sync(**window(days=[0])), "schedule 'x'.windows[0].days: ISO weekdays 1 (Monday) to 7 (Sunday)"),
    (sync(**window(start="8:00")), "schedule 'x'.windows[0].start: expected a time HH:MM (00:00-24:00)"),
    (sync(**window(end="24:01")), "schedule 'x'.windows[0].end: expected a time HH:MM (00:00-24:00)"),
    (sync(**window(start="24:00")), "schedule 'x'.windows[0].start: 24:00 is only an end"),
    (sync(**window(end="08:00")), "schedule 'x'.windows[0]: start and end are equal (use 00:00–24:00 "
                                  "for the whole day)"),
    (sync(schedules={"x": {"windows": [{"days": [1], "start": "08:00", "end": "09:00"}], "from": 1}}),
     "schedule 'x'.from: expected a date YYYY-MM-DD"),
    (sync(schedules={"x": {"windows": [{"days": [1], "start": "08:00", "end": "09:00"}],
                           "until": "2026-13-01"}}),
     "schedule 'x'.until: '2026-13-01' is not a date YYYY-MM-DD"),
    (sync(schedules={"x": {"windows": [{"days": [1], "start": "08:00", "end": "09:00"}],
                           "from": "2026-09-02", "until": "2026-09-01"}}),
     "schedule 'x': 'until' is before 'from'"),
    (sync(schedules={"x": {"windows": [{"days": [1], "start": "08:00", "end": "09:00"}],
                           "on_holidays": "yes"}}),
     "schedule 'x'.on_holidays: expected true or false"),
])
def test_a_refused_sync_names_the_field_and_the_problem(wire: object, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        AccessPolicy.from_wire(wire)
    assert str(refused.value) == message


def test_a_policy_holds_up_to_max_people(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real bound is 500,000 (3 s to parse); the same rule checked on a bound of 3.
    monkeypatch.setattr(access_rules, "MAX_PEOPLE", 3)
    three = [{"person_id": f"s{n}"} for n in range(3)]
    assert len(AccessPolicy.from_wire(sync(people=three)).people) == 3
    with pytest.raises(ValueError) as refused:
        AccessPolicy.from_wire(sync(people=[*three, {"person_id": "s3"}]))
    assert str(refused.value) == "policy.people: more than 3 people"
