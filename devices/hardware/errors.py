"""Errors of the serial hardware drivers (one base class, library errors translated at the boundary)."""

from __future__ import annotations


class HardwareError(Exception):
    """Base class of every hardware driver error."""


class PortUnavailable(HardwareError):
    """The serial port is missing (unplugged) or failed; the link reopens it with backoff."""


class DeviceNotAnswering(HardwareError):
    """The port is open but the device did not answer in time."""


class BadFrame(HardwareError):
    """Bytes that are not a valid frame of the device's protocol (rejected and counted)."""
