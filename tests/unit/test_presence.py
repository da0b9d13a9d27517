"""Presence rules: birth, will (stale or not), activity and inactivity timeout."""

from __future__ import annotations

from devices.contract import Birth, Will
from devices.kinds import DeviceKind
from hall_controller.domain.presence import (
    Change,
    apply_activity,
    apply_birth,
    apply_timeout,
    apply_will,
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
