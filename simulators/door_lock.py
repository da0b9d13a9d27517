"""A simulated dorm door lock built on ``edge.door.DoorLogic``: badge-ins, door contact,
battery, and now and then a forced or held-open door so the demo shows alarms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from devices.kinds import DeviceKind
from edge.door import AccessMethod, DoorConfig, DoorEvent, DoorLogic
from edge.driver import TelemetryScalar
from edge.errors import CommandRefused
from edge.params import number_param, text_param
from simulators.base import CommandHandler, SimulatedDevice

BATTERY_PER_S_PCT = 1.0 / 86_400  # about one percent a day standing by
BATTERY_PER_OPENING_PCT = 0.02
ACCESS_PER_S = 1 / 300  # someone badges in every five minutes
UNKNOWN_CARD_SHARE = 0.1  # a visitor's card, an expired one
EGRESS_PER_S = 1 / 600
FORCED_PER_S = 1 / 7200  # about one forced door per lock every two hours
HELD_OPEN_SHARE = 0.02  # of passages, someone props the door open
OPEN_FOR_S = (3.0, 12.0)
HELD_OPEN_FOR_S = (40.0, 90.0)
UNLOCK_MAX_S = 3600.0
RESIDENTS = 4


def resident_cards(device_id: str) -> dict[str, str]:
    """Card number → person id of the residents behind one simulated lock (campus card numbers
    are letters and digits). ``hall demo`` enrols them with a rule for that lock only
    (``simulators.access_roster``)."""
    stem = "".join(ch for ch in device_id if ch.isalnum())[:28]
    return {f"{stem}{i:02d}": f"resident-{device_id}-{i}" for i in range(1, RESIDENTS + 1)}


class SimulatedDoorLock(SimulatedDevice):
    """Telemetry: ``battery_pct``, ``door_state``, ``locked``, ``mode``, ``tamper``, ``rssi``.

    Events: those of ``DoorLogic`` (``door.opened``/``closed``/``unlocked``/``locked``/
    ``forced``/``held_open``/``mode_changed``, ``access.granted``/``denied``,
    ``lock.battery_low``/``battery_ok``, ``lock.tamper``/``tamper_cleared``).
    Commands: ``door.unlock {"duration_s"}`` and ``door.set_mode {"mode"}`` (the agent executes
    them only when signed), ``access.refresh`` (unsigned: reports the local allow-list).
    """

    kind: ClassVar[DeviceKind] = DeviceKind.DOOR_LOCK

    def __init__(self, device_id: str, *, speed: float = 1.0, tick_s: float = 1.0) -> None:
        super().__init__(device_id, speed=speed, tick_s=tick_s)
        # Cards of the room's residents: the small local allow-list the lock decides with.
        self.allowed_cards = resident_cards(device_id)
        self.clock_s = 0.0
        self.door = DoorLogic(DoorConfig(), authorize=self._authorize, now=self.clock_s)
        self.battery_pct = round(self.rng.uniform(40.0, 100.0), 2)
        self._close_at: float | None = None
        self._record(self.door.battery(self.battery_pct, self.clock_s))

    def _authorize(self, method: AccessMethod, credential: str,
                   now: float) -> tuple[bool, str | None, str]:
        person_id = self.allowed_cards.get(credential) if method is AccessMethod.CARD else None
        if person_id is None:
            return False, None, "unknown_credential"
        return True, person_id, "allow_list"

    def _record(self, events: list[DoorEvent]) -> None:
        for type_, data in events:
            self.emit(type_, data)

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        return {
            "battery_pct": round(self.battery_pct, 2),
            "door_state": "open" if self.door.door_open else "closed",
            "locked": not self.door.relay_released,
            "mode": self.door.mode.value,
            "tamper": self.door.tamper_active,
            "rssi": int(self.noisy(-64.0, 3.0, 0)),
        }

    def commands(self) -> dict[str, CommandHandler]:
        return {"door.unlock": self._unlock, "door.set_mode": self._set_mode,
                "access.refresh": self._refresh}

    def _unlock(self, params: Mapping[str, Any]) -> dict[str, Any]:
        duration = number_param(params, "duration_s", 1.0, UNLOCK_MAX_S, default=5.0)
        events = self.door.grant(AccessMethod.REMOTE, self.clock_s, duration_s=duration,
                                 reason="remote_command")
        self._record(events)
        if any(type_ == "access.denied" for type_, _ in events):
            raise CommandRefused("locked_down", "the door is in lockdown; remote unlock refused")
        return {"unlocked": True, "duration_s": duration}

    def _set_mode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        mode = text_param(params, "mode", 32)
        try:
            self._record(self.door.set_mode(mode, self.clock_s))
        except ValueError as exc:
            raise CommandRefused("invalid_params", str(exc)) from None
        return {"mode": self.door.mode.value, "locked": not self.door.relay_released}

    def _refresh(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"credentials": len(self.allowed_cards)}

    def step(self, dt: float) -> None:
        self.clock_s += dt
        now = self.clock_s
        self._record(self.door.tick(now))
        self.battery_pct = max(0.0, self.battery_pct - BATTERY_PER_S_PCT * dt)
        self._record(self.door.battery(self.battery_pct, now))
        if self.door.door_open:
            if self._close_at is not None and now >= self._close_at:
                self._close_at = None
                self._record(self.door.contact(False, now))
            return
        if self.happens(ACCESS_PER_S, dt):
            self._badge_in(now)
        elif self.happens(EGRESS_PER_S, dt):
            self._record(self.door.request_to_exit(now))
            self._open(now)
        elif self.happens(FORCED_PER_S, dt):
            self._open(now)  # the relay still holds: DoorLogic reports door.forced

    def _badge_in(self, now: float) -> None:
        if self.rng.random() < UNKNOWN_CARD_SHARE:
            card = f"card-visitor-{self.rng.randrange(1000)}"
        else:
            card = self.rng.choice(sorted(self.allowed_cards))
        self._record(self.door.present_credential(AccessMethod.CARD, card, now))
        if self.door.relay_released:
            self._open(now)

    def _open(self, now: float) -> None:
        held = self.rng.random() < HELD_OPEN_SHARE
        self._close_at = now + self.rng.uniform(*(HELD_OPEN_FOR_S if held else OPEN_FOR_S))
        self.battery_pct = max(0.0, self.battery_pct - BATTERY_PER_OPENING_PCT)
        self._record(self.door.contact(True, now))
