"""The kinds of device the hall knows."""

from __future__ import annotations

from enum import StrEnum


class DeviceKind(StrEnum):
    """A device kind, as announced in the birth message."""

    KIOSK = "kiosk"
    FACE_GATE = "face_gate"
    DOOR_LOCK = "door_lock"
    QUEUE_DISPLAY = "queue_display"
