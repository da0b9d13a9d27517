"""What staff may do by hand to an alarm or a device, and what they must say when they do.

Pure rules: the caller looks up the device's presence and latest values and passes them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hall_controller.fleet.model import Alarm, AlarmSeverity, TelemetryScalar

# A note is at most this long (a sentence or two; the page's text box says so).
MAX_NOTE_LENGTH = 500

# Commands a person sends only with a note of why: a reboot drops whatever the device was doing
# (a visitor's ticket half printed, a door mid-unlock).
NOTE_REQUIRED_METHODS = frozenset({"device.reboot"})


def note_required_to_clear(alarm: Alarm) -> bool:
    """A critical alarm (a forced door, tamper, a swapped device) is cleared only with a note
    of what was found: the next person to look should not have to guess."""
    return alarm.severity is AlarmSeverity.CRITICAL


@dataclass(frozen=True, slots=True)
class StillHolds:
    """Why an alarm cannot be cleared yet: ``reason`` is a stable code the pages translate."""

    reason: str


# A hardware.<part> alarm holds while the agent reports the part offline (<part>_online false).
_HARDWARE_PREFIX = "hardware."


def condition_still_holds(alarm: Alarm, *, device_known: bool, device_online: bool,
                          latest: Mapping[str, TelemetryScalar]) -> StillHolds | None:
    """Whether what raised ``alarm`` is still true, as far as the controller knows.

    Clearing such an alarm would only hide it: the device would not raise it again (an
    offline device sends nothing; a door held open reports once). Values are trusted only
    while the device is online: an offline device's last report may be stale.
    """
    if alarm.type == "device.offline":
        return StillHolds("device_offline") if device_known and not device_online else None
    if not device_online:
        return None
    if alarm.type == "door.held_open" and latest.get("door_state") == "open":
        return StillHolds("door_open")
    if alarm.type == "lock.tamper" and latest.get("tamper") is True:
        return StillHolds("tamper_active")
    if alarm.type.startswith(_HARDWARE_PREFIX):
        part = alarm.type.removeprefix(_HARDWARE_PREFIX)
        if latest.get(f"{part}_online") is False:
            return StillHolds("hardware_offline")
    return None
