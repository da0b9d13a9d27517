"""Drivers for device hosts with serial hardware (docs/hardware.md): a kiosk with a ticket
printer and card reader, a door on an RS-485 lock board, a queue display on an LED panel."""

from __future__ import annotations

from pathlib import Path

from devices.hardware.settings import HardwareSettings
from devices.kinds import DeviceKind
from edge.access_sync import AccessKeeper
from edge.driver import DeviceDriver


def hardware_driver(kind: DeviceKind, hardware: HardwareSettings, card_service: str,
                    state_dir: Path | None = None, *,
                    device_key: bytes | None = None) -> DeviceDriver:
    """The driver of a device kind over its serial hardware. A door with a ``state_dir``
    decides cards from the access policy it syncs from the controller (kept there), verified
    with ``device_key`` (its command key) when it has one."""
    # Imported here: each pulls in its protocol library (python-escpos, pymodbus).
    if kind is DeviceKind.KIOSK:
        from edge.drivers.kiosk import HardwareKiosk

        return HardwareKiosk(hardware, card_service=card_service)
    if kind is DeviceKind.DOOR_LOCK:
        from edge.drivers.door_lock import HardwareDoor

        access = None if state_dir is None else AccessKeeper(state_dir, with_gallery=False,
                                                              key=device_key)
        return HardwareDoor(hardware, access=access)
    if kind is DeviceKind.QUEUE_DISPLAY:
        from edge.drivers.queue_display import HardwareQueueDisplay

        if hardware.led_display is None:
            raise ValueError("a queue display needs [hardware.led_display]")
        return HardwareQueueDisplay(hardware.led_display)
    raise ValueError(f"no serial hardware driver for a {kind.value} (a face gate has a camera)")


__all__ = ["hardware_driver"]
