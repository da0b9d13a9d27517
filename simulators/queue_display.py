"""A simulated queue-number display: shows the calls the controller sends it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from devices.contract import now_ms
from devices.kinds import DeviceKind
from edge.driver import TelemetryScalar
from edge.params import label_param, number_param, text_param, waiting_list_param
from simulators.base import CommandHandler, SimulatedDevice


@dataclass(frozen=True, slots=True)
class DisplayCall:
    """What the display shows (and announces): ``请 A012 号到 3 号窗口``."""

    ticket: str
    window: str
    text: str
    at_ms: int


class SimulatedQueueDisplay(SimulatedDevice):
    """Telemetry: ``brightness_pct``, ``temp_c``, ``calls_shown``.

    Commands: ``display.set_brightness {"brightness": 0-100}``,
    ``display.call {"ticket", "window", "text", "lang"?}`` (kept in ``last_call``),
    ``display.queue {"area", "services": [{"service", "name", "waiting", "next"}], "lang"?}``
    (the waiting list, kept in ``waiting``: service code → the next numbers).
    """

    kind: ClassVar[DeviceKind] = DeviceKind.QUEUE_DISPLAY

    def __init__(self, device_id: str, *, speed: float = 1.0, tick_s: float = 1.0) -> None:
        super().__init__(device_id, speed=speed, tick_s=tick_s)
        self.brightness_pct = 80
        self.last_call: DisplayCall | None = None
        self.calls_shown = 0
        self.waiting: dict[str, list[str]] = {}

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        return {
            "brightness_pct": self.brightness_pct,
            # The LED panel warms with its brightness.
            "temp_c": self.noisy(31.0 + 0.12 * self.brightness_pct, 0.4),
            "calls_shown": self.calls_shown,
        }

    def commands(self) -> dict[str, CommandHandler]:
        return {"display.set_brightness": self._set_brightness, "display.call": self._call,
                "display.queue": self._queue}

    def _set_brightness(self, params: Mapping[str, Any]) -> dict[str, Any]:
        self.brightness_pct = round(number_param(params, "brightness", 0, 100))
        return {"brightness": self.brightness_pct}

    def _call(self, params: Mapping[str, Any]) -> dict[str, Any]:
        ticket = text_param(params, "ticket", 16)
        window = label_param(params, "window")
        text = text_param(params, "text", 256, default=f"请 {ticket} 号到 {window} 号窗口")
        self.last_call = DisplayCall(ticket, window, text, now_ms())
        self.calls_shown += 1
        return {"shown": True, "ticket": ticket, "window": window}

    def _queue(self, params: Mapping[str, Any]) -> dict[str, Any]:
        self.waiting = waiting_list_param(params)
        return {"shown": True, "services": len(self.waiting)}
