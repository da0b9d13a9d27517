"""A simulated self-service kiosk: prints queue tickets, runs out of paper, jams."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from devices.kinds import DeviceKind
from edge.driver import TelemetryScalar
from simulators.base import SimulatedDevice

TICKETS_PER_S = 1 / 30  # a busy hall: one visitor every half minute per kiosk
PAPER_PER_TICKET_PCT = 0.2  # a roll lasts about 500 tickets
PAPER_LOW_PCT = 15.0
JAM_PER_TICKET = 0.004
JAM_CLEARED_S = (60.0, 180.0)  # how long until staff clear a jam
REFILL_S = (120.0, 600.0)  # how long until staff bring paper


class SimulatedKiosk(SimulatedDevice):
    """Telemetry: ``paper_level_pct``, ``printer_state``, ``cpu_temp_c``, ``tickets_printed``.

    Events: ``printer.paper_low``, ``printer.paper_out``, ``printer.refilled``, ``printer.jam``,
    ``printer.jam_cleared``.
    """

    kind: ClassVar[DeviceKind] = DeviceKind.KIOSK

    def __init__(self, device_id: str, *, speed: float = 1.0, tick_s: float = 1.0) -> None:
        super().__init__(device_id, speed=speed, tick_s=tick_s)
        self.paper_level_pct = round(self.rng.uniform(30.0, 100.0), 1)
        self.printer_state = "ok" if self.paper_level_pct > PAPER_LOW_PCT else "paper_low"
        self.tickets_printed = 0
        self._busy = 0.0
        self._fixed_in_s = 0.0  # until a jam is cleared or paper refilled

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        return {
            "paper_level_pct": round(self.paper_level_pct, 1),
            "printer_state": self.printer_state,
            "cpu_temp_c": self.noisy(46.0 + 8.0 * self._busy, 0.8),
            "tickets_printed": self.tickets_printed,
        }

    def step(self, dt: float) -> None:
        self._busy *= 0.9
        if self.printer_state in ("jam", "paper_out"):
            self._fixed_in_s -= dt
            if self._fixed_in_s <= 0:
                self._staff_fix()
            return
        if self.happens(TICKETS_PER_S, dt):
            self._print_ticket()

    def _print_ticket(self) -> None:
        self._busy = 1.0
        self.tickets_printed += 1
        self.paper_level_pct = max(0.0, self.paper_level_pct - PAPER_PER_TICKET_PCT)
        if self.rng.random() < JAM_PER_TICKET:
            self.printer_state = "jam"
            self._fixed_in_s = self.rng.uniform(*JAM_CLEARED_S)
            self.emit("printer.jam", {"tickets_printed": self.tickets_printed})
        elif self.paper_level_pct <= 0.0:
            self.printer_state = "paper_out"
            self._fixed_in_s = self.rng.uniform(*REFILL_S)
            self.emit("printer.paper_out", {})
        elif self.paper_level_pct <= PAPER_LOW_PCT and self.printer_state == "ok":
            self.printer_state = "paper_low"
            self.emit("printer.paper_low", {"paper_level_pct": round(self.paper_level_pct, 1)})

    def _staff_fix(self) -> None:
        if self.printer_state == "jam":
            self.emit("printer.jam_cleared", {})
        else:
            self.paper_level_pct = 100.0
            self.emit("printer.refilled", {"paper_level_pct": 100.0})
        self.printer_state = "ok" if self.paper_level_pct > PAPER_LOW_PCT else "paper_low"
