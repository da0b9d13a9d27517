"""A simulated dorm door lock: battery, door contact, remote unlock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from devices.kinds import DeviceKind
from edge.driver import TelemetryScalar
from simulators.base import CommandHandler, SimulatedDevice, number_param

BATTERY_PER_S_PCT = 1.0 / 86_400  # about one percent a day standing by
BATTERY_PER_OPENING_PCT = 0.02
BATTERY_LOW_PCT = 20.0
ACCESS_PER_S = 1 / 300  # someone badges in every five minutes
OPEN_FOR_S = (3.0, 12.0)
UNLOCK_MAX_S = 3600.0


class SimulatedDoorLock(SimulatedDevice):
    """Telemetry: ``battery_pct``, ``door_state``, ``locked``, ``rssi``.

    Events: ``door.opened``, ``door.closed``, ``door.unlocked``, ``door.locked``,
    ``lock.battery_low``.  Command ``door.unlock {"duration_s"}`` (signature checks come later).
    """

    kind: ClassVar[DeviceKind] = DeviceKind.DOOR_LOCK

    def __init__(self, device_id: str, *, speed: float = 1.0, tick_s: float = 1.0) -> None:
        super().__init__(device_id, speed=speed, tick_s=tick_s)
        self.battery_pct = round(self.rng.uniform(40.0, 100.0), 2)
        self.door_state = "closed"
        self.locked = True
        self._unlocked_for_s = 0.0
        self._open_for_s = 0.0
        self._battery_warned = False
        self._passed = False  # someone went through during the current release

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        return {
            "battery_pct": round(self.battery_pct, 2),
            "door_state": self.door_state,
            "locked": self.locked,
            "rssi": int(self.noisy(-64.0, 3.0, 0)),
        }

    def commands(self) -> dict[str, CommandHandler]:
        return {"door.unlock": self._unlock}

    def _unlock(self, params: Mapping[str, Any]) -> dict[str, Any]:
        duration = number_param(params, "duration_s", 1.0, UNLOCK_MAX_S, default=5.0)
        self._release(duration, source="remote")
        return {"unlocked": True, "duration_s": duration}

    def _release(self, duration_s: float, source: str) -> None:
        if self.locked:
            self.emit("door.unlocked", {"source": source, "duration_s": duration_s})
            self._passed = False
        self.locked = False
        self._unlocked_for_s = max(self._unlocked_for_s, duration_s)

    def step(self, dt: float) -> None:
        self.battery_pct = max(0.0, self.battery_pct - BATTERY_PER_S_PCT * dt)
        if self.locked and self.happens(ACCESS_PER_S, dt):
            self._release(5.0, source="card")
        if not self.locked and not self._passed and self.door_state == "closed" \
                and self.rng.random() < 0.5:
            self._passed = True
            self.door_state = "open"
            self._open_for_s = self.rng.uniform(*OPEN_FOR_S)
            self.battery_pct = max(0.0, self.battery_pct - BATTERY_PER_OPENING_PCT)
            self.emit("door.opened", {})
        elif self.door_state == "open":
            self._open_for_s -= dt
            if self._open_for_s <= 0:
                self.door_state = "closed"
                self.emit("door.closed", {})
        if not self.locked:
            self._unlocked_for_s -= dt
            # A lock only bolts a closed door.
            if self._unlocked_for_s <= 0 and self.door_state == "closed":
                self.locked = True
                self.emit("door.locked", {})
        if self.battery_pct <= BATTERY_LOW_PCT and not self._battery_warned:
            self._battery_warned = True
            self.emit("lock.battery_low", {"battery_pct": round(self.battery_pct, 1)})
