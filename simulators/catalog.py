"""Which simulator plays which device kind."""

from __future__ import annotations

from devices.kinds import DeviceKind
from simulators.base import SimulatedDevice
from simulators.door_lock import SimulatedDoorLock
from simulators.face_gate import SimulatedFaceGate
from simulators.kiosk import SimulatedKiosk
from simulators.queue_display import SimulatedQueueDisplay

SIMULATORS: dict[DeviceKind, type[SimulatedDevice]] = {
    DeviceKind.KIOSK: SimulatedKiosk,
    DeviceKind.FACE_GATE: SimulatedFaceGate,
    DeviceKind.DOOR_LOCK: SimulatedDoorLock,
    DeviceKind.QUEUE_DISPLAY: SimulatedQueueDisplay,
}


def simulated_driver(
    kind: DeviceKind, device_id: str, *, speed: float = 1.0, tick_s: float = 1.0
) -> SimulatedDevice:
    """A simulated driver for a device of this kind."""
    return SIMULATORS[kind](device_id, speed=speed, tick_s=tick_s)
