"""The controller's exceptions; adapters translate library errors into these at the boundary."""

from __future__ import annotations


class HallError(Exception):
    """Base of every error the controller raises on purpose."""


class NotFound(HallError):
    """The thing asked for does not exist."""


class Conflict(HallError):
    """The request contradicts the current state (e.g. acknowledging a cleared alarm twice)."""


class StoreUnavailable(HallError):
    """The database cannot be reached or refused the work; the caller may retry."""


class DeviceOffline(HallError):
    """A command was sent to a device that is not online."""


class NoteRequired(HallError):
    """A dangerous action (a reboot, clearing a critical alarm) was asked for without a note of
    why; ``field`` names where the note belongs."""

    code = "note_required"

    def __init__(self, message: str, *, field: str = "note") -> None:
        super().__init__(message)
        self.field = field


class ConditionStillHolds(Conflict):
    """Clearing an alarm whose cause is still there (the device still offline, the door still
    open); ``reason`` is a stable code a page translates."""

    code = "alarm_condition_holds"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
