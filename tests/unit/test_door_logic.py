"""The door's local logic: what a guard at the dorm desk would see as events and alarms."""

from __future__ import annotations

import math

import pytest

from edge.door import AccessMethod, DoorConfig, DoorEvent, DoorLogic, DoorMode
from simulators.door_lock import SimulatedDoorLock


def types(events: list[DoorEvent]) -> list[str]:
    return [type_ for type_, _ in events]


def allow_card_1(method: AccessMethod, credential: str, now: float) -> tuple[bool, str | None, str]:
    if method is AccessMethod.CARD and credential == "card-1":
        return True, "p-1", "allow_list"
    return False, None, "unknown_credential"


def door(**config: float | bool) -> DoorLogic:
    return DoorLogic(DoorConfig(**config), authorize=allow_card_1)  # type: ignore[arg-type]


def test_a_locked_door_opened_without_a_grant_is_forced_and_close_clears_it() -> None:
    d = door()
    assert not d.relay_released
    events = d.contact(True, 10.0)
    assert types(events) == ["door.opened", "door.forced"]
    closed = d.contact(False, 12.0)
    assert closed == [("door.closed", {"open_s": 2.0, "was_forced": True})]
    # A door that stays open after a forced opening is not also "held open".
    d.contact(True, 20.0)
    assert "door.held_open" not in types(d.tick(100.0))


def test_a_granted_opening_is_not_forced_even_a_moment_after_the_release_ended() -> None:
    d = door(release_s=5.0, forced_grace_s=2.0)
    granted = d.present_credential("card", "card-1", 0.0)
    assert granted[0] == ("access.granted", {"method": "card", "person_id": "p-1",
                                             "credential": "card-1", "reason": "allow_list"})
    assert ("door.unlocked", {"source": "card", "duration_s": 5.0}) in granted
    assert d.relay_released
    assert d.tick(5.0) == [("door.locked", {})]
    assert types(d.contact(True, 6.5)) == ["door.opened"]  # within the grace: a slow push
    d.contact(False, 8.0)
    assert types(d.contact(True, 30.0)) == ["door.opened", "door.forced"]


def test_held_open_is_reported_once_and_cleared_by_closing() -> None:
    d = door(held_open_after_s=30.0)
    d.grant(AccessMethod.REMOTE, 0.0, duration_s=5.0)
    d.contact(True, 1.0)
    assert d.tick(30.0) == [("door.locked", {})]
    held = d.tick(31.5)
    assert held == [("door.held_open", {"open_s": 30.5, "limit_s": 30.0})]
    assert d.tick(60.0) == []  # once, not every tick
    assert d.contact(False, 61.0) == [("door.closed", {"open_s": 60.0, "was_held_open": True})]
    # The next opening starts afresh.
    d.grant("remote", 70.0)
    d.contact(True, 71.0)
    assert types(d.tick(102.0)) == ["door.locked", "door.held_open"]


def test_egress_releases_in_every_mode_even_lockdown_and_is_not_forced() -> None:
    for mode in DoorMode:
        d = door()
        d.set_mode(mode, 0.0)
        if mode is not DoorMode.FREE_PASS:
            assert not d.relay_released
        d.request_to_exit(1.0)
        assert d.relay_released, mode
        assert "door.forced" not in types(d.contact(True, 2.0))


def test_lockdown_denies_every_grant_and_ends_the_ones_in_progress() -> None:
    d = door()
    d.grant("remote", 0.0, duration_s=60.0)
    assert d.relay_released
    changed = d.set_mode("locked_down", 1.0)
    assert changed == [("door.mode_changed", {"mode": "locked_down", "previous": "normal"}),
                       ("door.locked", {})]
    for method in AccessMethod:
        events = d.grant(method, 2.0, person_id="p-1")
        assert events == [("access.denied", {"method": method.value, "person_id": "p-1",
                                             "reason": "locked_down"})]
    assert types(d.present_credential("card", "card-1", 3.0)) == ["access.denied"]
    assert not d.relay_released


def test_free_pass_keeps_the_door_released_until_the_mode_changes() -> None:
    d = door(held_open_after_s=5.0)
    assert d.set_mode(DoorMode.FREE_PASS, 0.0)[1] == ("door.unlocked", {"source": "mode"})
    assert types(d.contact(True, 1.0)) == ["door.opened"]
    assert d.tick(1000.0) == []  # open all day in free pass is no alarm
    assert d.relay_released
    assert types(d.set_mode("normal", 1001.0)) == ["door.mode_changed", "door.locked"]


def test_denials_keep_the_door_locked_and_a_pin_never_appears_in_an_event() -> None:
    d = door()
    denied = d.present_credential("card", "card-999", 0.0)
    assert denied == [("access.denied", {"method": "card", "credential": "card-999",
                                         "reason": "unknown_credential"})]
    pin = d.present_credential(AccessMethod.PIN, "4711", 1.0)
    assert pin == [("access.denied", {"method": "pin", "reason": "unknown_credential"})]
    assert not d.relay_released


def test_tamper_is_reported_on_change_only() -> None:
    d = door()
    assert d.tamper(True, 0.0) == [("lock.tamper", {})]
    assert d.tamper(True, 1.0) == []
    assert d.tamper(False, 2.0) == [("lock.tamper_cleared", {})]


def test_battery_low_and_ok_have_hysteresis() -> None:
    d = door(battery_low_pct=20.0, battery_ok_pct=25.0)
    assert d.battery(50.0, 0.0) == []
    assert d.battery(20.0, 1.0) == [("lock.battery_low", {"battery_pct": 20.0})]
    assert d.battery(19.0, 2.0) == []
    assert d.battery(22.0, 3.0) == []  # a reading hovering near the threshold does not flap
    assert d.battery(25.0, 4.0) == [("lock.battery_ok", {"battery_pct": 25.0})]


def test_a_fail_safe_door_releases_on_a_fault_and_a_fail_secure_one_does_not() -> None:
    safe = door(fail_safe=True)
    assert types(safe.fault(True, 0.0)) == ["lock.fault", "door.unlocked"]
    assert types(safe.fault(False, 1.0)) == ["lock.fault_cleared", "door.locked"]
    secure = door(fail_safe=False)
    assert types(secure.fault(True, 0.0)) == ["lock.fault"]
    assert not secure.relay_released
    secure.request_to_exit(1.0)
    assert secure.relay_released  # egress still works on a fail-secure door


def test_bad_inputs_are_refused_with_a_clear_error_and_change_nothing() -> None:
    d = door()
    with pytest.raises(ValueError, match="duration_s"):
        d.grant("remote", 0.0, duration_s=0)
    with pytest.raises(ValueError, match="duration_s"):
        d.grant("remote", 0.0, duration_s=4000)
    with pytest.raises(ValueError, match="unknown access method"):
        d.grant("telepathy", 0.0)
    with pytest.raises(ValueError, match="unknown door mode"):
        d.set_mode("party", 0.0)
    with pytest.raises(ValueError, match="battery_pct"):
        d.battery(math.nan, 0.0)
    with pytest.raises(ValueError, match="now"):
        d.tick(math.inf)
    assert not d.relay_released and d.mode is DoorMode.NORMAL
    with pytest.raises(ValueError):
        DoorConfig(battery_low_pct=30.0, battery_ok_pct=25.0)


def test_a_clock_stepping_back_does_not_reopen_a_closed_window() -> None:
    d = door(release_s=5.0, forced_grace_s=0.0)
    d.grant("remote", 100.0)
    d.tick(106.0)
    assert not d.relay_released
    assert types(d.contact(True, 101.0)) == ["door.opened", "door.forced"]
    assert d.contact(True, 107.0) == []  # a repeated reading changes nothing


def test_the_simulated_lock_shows_the_demo_its_alarms_now_and_then() -> None:
    """A day of one simulated lock: badge-ins granted and denied, and now and then a forced or
    held-open door, each cleared by the door closing again."""
    lock = SimulatedDoorLock("lock-01")
    for _ in range(24 * 3600):
        lock.step(1.0)
    seen = [type_ for type_, _ in lock._events]
    assert {"access.granted", "access.denied", "door.opened", "door.closed", "door.unlocked",
            "door.locked", "door.forced", "door.held_open"} <= set(seen)
    assert 50 < seen.count("access.granted") < 1000
    assert 0 < seen.count("door.forced") < 50
    assert 0 < seen.count("door.held_open") < 50
    assert seen.count("door.opened") == seen.count("door.closed") + lock.door.door_open
