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
