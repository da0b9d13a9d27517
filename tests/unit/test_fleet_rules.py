"""When staff may clear an alarm by hand, and when they must say why (fleet/rules.py)."""

from __future__ import annotations

import pytest

from hall_controller.fleet.model import (
    Alarm,
    AlarmSeverity,
    AlarmStatus,
    TelemetryScalar,
    is_automatic,
)
from hall_controller.fleet.rules import StillHolds, condition_still_holds, note_required_to_clear


def alarm(type: str, severity: AlarmSeverity = AlarmSeverity.MAJOR) -> Alarm:
    return Alarm(id=1, device_id="lock-1", type=type, severity=severity,
                 status=AlarmStatus.ACTIVE, acknowledged=False, raised_ms=0, updated_ms=0)


@pytest.mark.parametrize(("type", "online", "latest", "holds"), [
    ("device.offline", False, {}, StillHolds("device_offline")),
    ("device.offline", True, {}, None),
    ("door.held_open", True, {"door_state": "open"}, StillHolds("door_open")),
    ("door.held_open", True, {"door_state": "closed"}, None),
    # An offline lock's last report may be stale: it does not keep the alarm.
    ("door.held_open", False, {"door_state": "open"}, None),
    ("lock.tamper", True, {"tamper": True}, StillHolds("tamper_active")),
    ("lock.tamper", True, {"tamper": False}, None),
    ("hardware.printer", True, {"printer_online": False}, StillHolds("hardware_offline")),
    ("hardware.printer", True, {"printer_online": True}, None),
    ("hardware.printer", True, {}, None),                  # not reported: not known to hold
    ("door.forced", True, {"door_state": "open"}, None),    # an event, not a lasting state
])
def test_an_alarm_whose_cause_still_holds_is_not_cleared(
        type: str, online: bool, latest: dict[str, TelemetryScalar], holds: StillHolds | None) -> None:
    assert condition_still_holds(alarm(type), device_known=True, device_online=online,
                                 latest=latest) == holds


def test_an_offline_alarm_of_a_device_no_longer_known_may_be_cleared() -> None:
    assert condition_still_holds(alarm("device.offline"), device_known=False,
                                 device_online=False, latest={}) is None


def test_only_a_critical_alarm_needs_a_note() -> None:
    assert note_required_to_clear(alarm("door.forced", AlarmSeverity.CRITICAL))
    assert not note_required_to_clear(alarm("door.held_open", AlarmSeverity.MAJOR))


@pytest.mark.parametrize(("requested_by", "automatic"), [
    ("system:queue-display", True), ("system:access", True), ("clerk-service", True),
    ("fay", False), ("user:ada", False), ("systemd", False),
])
def test_a_command_is_automatic_when_the_controller_sent_it(requested_by: str,
                                                            automatic: bool) -> None:
    assert is_automatic(requested_by) is automatic
