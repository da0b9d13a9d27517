"""The controller's exceptions; adapters translate library errors into these at the boundary.

Each carries a stable ``error_code`` (``kernel.error_codes``) and the ``error_params`` that
code names, beside its English message: the API sends all three, and the pages say the code in
the reader's language. A subclass has a default code; a raise site that knows more names a
more precise one: ``Conflict(f"window {n} is open by {c}", code=ErrorCode.WINDOW_OPEN_BY_OTHER,
window=n, clerk=c)``.
"""

from __future__ import annotations

from typing import ClassVar

from hall_controller.kernel.error_codes import ErrorCode

ParamValue = str | int | float | None


class HallError(Exception):
    """Base of every error the controller raises on purpose."""

    default_code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str = "", *, code: ErrorCode | None = None,
                 **params: ParamValue) -> None:
        super().__init__(message)
        self.error_code: ErrorCode = code or self.default_code
        self.error_params: dict[str, ParamValue] = dict(params)


class NotFound(HallError):
    """The thing asked for does not exist."""

    default_code = ErrorCode.NOT_FOUND


class Conflict(HallError):
    """The request contradicts the current state (e.g. acknowledging a cleared alarm twice)."""

    default_code = ErrorCode.CONFLICT


class StoreUnavailable(HallError):
    """The database cannot be reached or refused the work; the caller may retry."""

    default_code = ErrorCode.STORE_UNAVAILABLE


class DeviceOffline(HallError):
    """A command was sent to a device that is not online."""

    default_code = ErrorCode.DEVICE_OFFLINE


class NoteRequired(HallError):
    """A dangerous action (a reboot, clearing a critical alarm) was asked for without a note of
    why; ``field`` names where the note belongs."""

    default_code = ErrorCode.NOTE_REQUIRED

    def __init__(self, message: str, *, field: str = "note") -> None:
        super().__init__(message, field=field)
        self.field = field


class ConditionStillHolds(Conflict):
    """Clearing an alarm whose cause is still there (the device still offline, the door still
    open); ``reason`` is a stable code a page translates."""

    default_code = ErrorCode.ALARM_CONDITION_HOLDS

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, condition=reason)
        self.reason = reason


__all__ = ["ConditionStillHolds", "Conflict", "DeviceOffline", "ErrorCode", "HallError",
           "NotFound", "NoteRequired", "ParamValue", "StoreUnavailable"]
