"""Presence rules: birth, will (stale or not), activity and inactivity timeout."""

from __future__ import annotations

from devices.contract import Birth, Will
from devices.kinds import DeviceKind
from hall_controller.fleet.model import DeviceRecord
from hall_controller.fleet.presence import (
    Change,
    apply_activity,
    apply_birth,
    apply_timeout,
    apply_will,
    kind_mismatch_reason,
)

T0 = 1_700_000_000_000  # every time below is T0 + milliseconds


def birth(session: int, ts: int) -> Birth:
    return Birth(online=True, session=session, kind=DeviceKind.KIOSK, model="K1", fw="2.0",
                 ts=T0 + ts)


def test_first_birth_registers_and_goes_online() -> None:
    outcome = apply_birth(None, "kiosk-1", birth(1, 100), T0 + 1_000)
    assert outcome.registered and outcome.change is Change.WENT_ONLINE
    assert outcome.record.online and outcome.record.model == "K1" and outcome.record.session == 1


def test_will_of_the_current_session_takes_the_device_offline() -> None:
    online = apply_birth(None, "kiosk-1", birth(3, 100), T0 + 1_000).record
    outcome = apply_will(online, Will(online=False, session=3), T0 + 2_000)
    assert outcome is not None and outcome.change is Change.WENT_OFFLINE
    assert not outcome.record.online and outcome.record.offline_reason == "will"


def test_stale_will_from_an_older_session_is_ignored() -> None:
    # The device reconnected (session 4) before the broker got round to session 3's will.
    online = apply_birth(None, "kiosk-1", birth(4, 100), T0 + 1_000).record
    outcome = apply_will(online, Will(online=False, session=3), T0 + 2_000)
    assert outcome is not None and outcome.change is Change.IGNORED_STALE
    assert outcome.record.online


def test_replayed_retained_birth_does_not_undo_a_timeout() -> None:
    record = apply_birth(None, "kiosk-1", birth(2, 100), T0 + 1_000).record
    timed_out = apply_timeout(record, T0 + 200_000, timeout_s=90).record
    assert not timed_out.online
    replay = apply_birth(timed_out, "kiosk-1", birth(2, 100), T0 + 300_000)
    assert replay.change is Change.NONE and not replay.record.online


def test_new_session_after_timeout_comes_back_online() -> None:
    record = apply_birth(None, "kiosk-1", birth(2, 100), T0 + 1_000).record
    timed_out = apply_timeout(record, T0 + 200_000, 90).record
    outcome = apply_birth(timed_out, "kiosk-1", birth(3, 250_000), T0 + 250_000)
    assert outcome.change is Change.WENT_ONLINE and outcome.record.session == 3


def test_reset_session_counter_with_a_newer_clock_is_accepted() -> None:
    record = apply_birth(None, "kiosk-1", birth(57, 100), T0 + 1_000).record
    outcome = apply_birth(record, "kiosk-1", birth(1, 5_000), T0 + 5_000)
    assert outcome.record.session == 1 and outcome.record.online


def test_timeout_only_after_the_kind_timeout() -> None:
    record = apply_birth(None, "kiosk-1", birth(1, 0), T0).record
    assert apply_timeout(record, T0 + 89_000, 90).change is Change.NONE
    assert apply_timeout(record, T0 + 91_000, 90).change is Change.WENT_OFFLINE


def test_activity_revives_a_timed_out_device_but_not_one_whose_will_came() -> None:
    record = apply_birth(None, "kiosk-1", birth(1, 0), T0).record
    timed_out = apply_timeout(record, T0 + 100_000, 90).record
    assert apply_activity(timed_out, T0 + 101_000).change is Change.WENT_ONLINE
    gone = apply_will(record, Will(online=False, session=1), T0 + 1_000)
    assert gone is not None
    late = apply_activity(gone.record, T0 + 2_000)
    assert late.change is Change.NONE and not late.record.online


def test_a_late_retained_birth_of_an_older_session_is_ignored() -> None:
    # Session 5 is live when session 4's retained birth turns up (a bridge, a broker restored
    # from a backup, a controller restarting while the retained message is still the old one).
    current = apply_birth(None, "kiosk-1", birth(5, 2_000), T0 + 2_000).record
    late = Birth(online=True, session=4, kind=DeviceKind.KIOSK, model="K0", fw="1.0", ts=T0 + 1_000)
    outcome = apply_birth(current, "kiosk-1", late, T0 + 3_000)
    assert outcome.change is Change.IGNORED_STALE
    assert outcome.record == current  # still session 5, its model and firmware


def test_a_late_birth_of_an_older_session_does_not_bring_a_silent_device_back() -> None:
    current = apply_birth(None, "kiosk-1", birth(5, 2_000), T0 + 2_000).record
    timed_out = apply_timeout(current, T0 + 200_000, 90).record
    late = Birth(online=True, session=4, kind=DeviceKind.KIOSK, model="K0", fw="1.0", ts=T0 + 1_000)
    outcome = apply_birth(timed_out, "kiosk-1", late, T0 + 201_000)
    assert outcome.change is Change.IGNORED_STALE and not outcome.record.online


# -- what the device list shows after each step -------------------------------------------------

def test_first_birth_shows_the_whole_identity_and_when_it_came_online() -> None:
    hello = Birth(online=True, session=7, kind=DeviceKind.DOOR_LOCK, model="L2", fw="3.1",
                  site="dorm-3", ts=T0 + 900)
    record = apply_birth(None, "lock-3-101", hello, T0 + 1_000).record
    assert record == DeviceRecord(
        device_id="lock-3-101", kind=DeviceKind.DOOR_LOCK, model="L2", fw="3.1", site="dorm-3",
        online=True, session=7, first_seen_ms=T0 + 1_000, last_seen_ms=T0 + 1_000,
        online_since_ms=T0 + 1_000, offline_reason=None)


def test_a_new_session_brings_the_new_firmware_and_keeps_a_known_site() -> None:
    first = Birth(online=True, session=1, kind=DeviceKind.KIOSK, model="K1", fw="2.0",
                  site="main-hall", ts=T0)
    record = apply_birth(None, "kiosk-1", first, T0).record
    # Re-imaged as another model with new firmware; its birth names no site this time.
    # (Its kind stays: a birth of another kind is refused, see the kind-mismatch tests.)
    again = Birth(online=True, session=2, kind=DeviceKind.KIOSK, model="K2", fw="2.1",
                  ts=T0 + 5_000)
    outcome = apply_birth(record, "kiosk-1", again, T0 + 5_000)
    assert outcome.change is Change.NONE  # it never went offline
    assert outcome.record == DeviceRecord(
        device_id="kiosk-1", kind=DeviceKind.KIOSK, model="K2", fw="2.1",
        site="main-hall", online=True, session=2, first_seen_ms=T0, last_seen_ms=T0 + 5_000,
        online_since_ms=T0, offline_reason=None)
    moved = Birth(online=True, session=3, kind=DeviceKind.KIOSK, model="K2", fw="2.1",
                  site="annex", ts=T0 + 6_000)
    assert apply_birth(outcome.record, "kiosk-1", moved, T0 + 6_000).record.site == "annex"


def test_a_birth_after_an_outage_restarts_online_since_and_clears_the_reason() -> None:
    record = apply_birth(None, "kiosk-1", birth(1, 0), T0).record
    timed_out = apply_timeout(record, T0 + 100_000, 90).record
    outcome = apply_birth(timed_out, "kiosk-1", birth(2, 150_000), T0 + 150_000)
    assert outcome.change is Change.WENT_ONLINE
    assert outcome.record.online is True
    assert outcome.record.online_since_ms == T0 + 150_000
    assert outcome.record.offline_reason is None
    assert outcome.record.last_seen_ms == T0 + 150_000
    assert outcome.record.first_seen_ms == T0


def test_a_birth_processed_late_does_not_move_last_seen_backwards() -> None:
    record = apply_birth(None, "kiosk-1", birth(1, 0), T0).record
    record = apply_activity(record, T0 + 60_000).record
    # Session 2's birth, carrying a newer device clock, processed with an older controller time.
    outcome = apply_birth(record, "kiosk-1", birth(2, 70_000), T0 + 30_000)
    assert outcome.record.session == 2 and outcome.record.last_seen_ms == T0 + 60_000


def test_a_replayed_birth_stamped_at_the_very_moment_last_heard_does_not_revive() -> None:
    # The device clock agrees with the controller's to the millisecond.
    record = apply_birth(None, "kiosk-1", birth(2, 1_000), T0 + 1_000).record
    timed_out = apply_timeout(record, T0 + 200_000, 90).record
    replay = apply_birth(timed_out, "kiosk-1", birth(2, 1_000), T0 + 300_000)
    assert replay.change is Change.NONE and replay.record.online is False


def test_an_older_session_birth_stamped_when_last_heard_is_still_stale() -> None:
    current = apply_birth(None, "kiosk-1", birth(5, 2_000), T0 + 2_000).record
    outcome = apply_birth(current, "kiosk-1", birth(4, 2_000), T0 + 3_000)
    assert outcome.change is Change.IGNORED_STALE and outcome.record == current


def test_a_will_shows_the_device_offline_since_the_will() -> None:
    online = apply_birth(None, "kiosk-1", birth(3, 100), T0 + 1_000).record
    outcome = apply_will(online, Will(online=False, session=3), T0 + 2_000)
    assert outcome is not None
    assert outcome.record.online is False and outcome.record.online_since_ms is None
    assert outcome.record.last_seen_ms == T0 + 2_000


def test_a_second_will_changes_nothing() -> None:
    online = apply_birth(None, "kiosk-1", birth(3, 100), T0 + 1_000).record
    gone = apply_will(online, Will(online=False, session=3), T0 + 2_000)
    assert gone is not None
    again = apply_will(gone.record, Will(online=False, session=3), T0 + 9_000)
    assert again is not None and again.change is Change.NONE and again.record == gone.record


def test_a_will_for_a_device_never_seen_is_nothing_to_record() -> None:
    assert apply_will(None, Will(online=False, session=1), T0) is None


def test_activity_moves_last_seen_and_a_revived_device_is_online_since_then() -> None:
    record = apply_birth(None, "kiosk-1", birth(1, 0), T0).record
    alive = apply_activity(record, T0 + 30_000)
    assert alive.change is Change.NONE and alive.record.last_seen_ms == T0 + 30_000
    assert apply_activity(alive.record, T0 + 10_000).record.last_seen_ms == T0 + 30_000
    timed_out = apply_timeout(alive.record, T0 + 200_000, 90).record
    revived = apply_activity(timed_out, T0 + 201_000)
    assert revived.record == DeviceRecord(
        device_id="kiosk-1", kind=DeviceKind.KIOSK, model="K1", fw="2.0", online=True, session=1,
        first_seen_ms=T0, last_seen_ms=T0 + 201_000, online_since_ms=T0 + 201_000,
        offline_reason=None)


def test_timeout_takes_the_device_offline_just_after_the_limit_and_not_at_it() -> None:
    record = apply_birth(None, "kiosk-1", birth(1, 0), T0).record
    at_limit = apply_timeout(record, T0 + 90_000, 90)
    assert at_limit.change is Change.NONE and at_limit.record == record
    after = apply_timeout(record, T0 + 90_050, 90)
    assert after.change is Change.WENT_OFFLINE
    assert after.record.online is False and after.record.online_since_ms is None
    assert after.record.offline_reason == "timeout" and after.record.last_seen_ms == T0


def test_a_birth_claiming_another_kind_is_refused_and_changes_nothing() -> None:
    # A lock's record, then a birth for the same id that says "face gate" (a newer session
    # and clock, so it would otherwise be accepted): the lock must not become a gate.
    lock = Birth(online=True, session=1, kind=DeviceKind.DOOR_LOCK, model="L1", fw="1.0",
                 site="b3", ts=T0 + 100)
    record = apply_birth(None, "lock-1", lock, T0 + 1_000).record
    timed_out = apply_timeout(record, T0 + 400_000, 300).record
    gate = Birth(online=True, session=9, kind=DeviceKind.FACE_GATE, model="G9", fw="6.6",
                 site="elsewhere", ts=T0 + 500_000)
    outcome = apply_birth(timed_out, "lock-1", gate, T0 + 500_000)
    assert outcome.change is Change.KIND_MISMATCH and not outcome.registered
    assert outcome.claimed_kind is DeviceKind.FACE_GATE
    assert outcome.record == timed_out  # kind, model, fw, site, session and presence kept
    assert kind_mismatch_reason(outcome) == (
        "kind_mismatch: lock-1 is recorded as door_lock, the birth says face_gate")


def test_a_birth_of_the_recorded_kind_still_refreshes_model_and_firmware() -> None:
    record = apply_birth(None, "kiosk-1", birth(1, 100), T0 + 1_000).record
    newer = Birth(online=True, session=2, kind=DeviceKind.KIOSK, model="K2", fw="3.0",
                  ts=T0 + 2_000)
    outcome = apply_birth(record, "kiosk-1", newer, T0 + 2_000)
    assert outcome.change is Change.NONE and outcome.claimed_kind is None
    assert (outcome.record.kind, outcome.record.model, outcome.record.fw) == (
        DeviceKind.KIOSK, "K2", "3.0")
