"""A queue-display agent's driver over a serial LED controller.

``display.call`` shows the call on the LED panel, ``display.queue`` sends the waiting list the
controller scrolls, ``display.set_brightness`` dims it. The panel is pinged while idle so an
unplugged or silent controller is reported (``hardware.fault``) without waiting for a call,
and what it should show is sent again once it is back (a power-cycled panel forgets).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar

from devices.cancellation import raise_if_cancelled
from devices.contract import now_ms
from devices.hardware.errors import HardwareError
from devices.hardware.led_display import SerialLedDisplay
from devices.hardware.relay import EventRelay, scalar_telemetry
from devices.hardware.settings import LedDisplaySettings
from devices.kinds import DeviceKind
from edge.driver import DeviceHandle, TelemetryScalar
from edge.errors import CommandRefused, UnknownMethod
from edge.params import label_param, number_param, text_param, waiting_list_param

logger = logging.getLogger(__name__)


class HardwareQueueDisplay:
    """A ``DeviceDriver`` for a queue display with a serial LED controller."""

    kind: ClassVar[DeviceKind] = DeviceKind.QUEUE_DISPLAY

    def __init__(self, settings: LedDisplaySettings) -> None:
        self.events = EventRelay()
        self.led = SerialLedDisplay(settings, self.events)
        self.settings = settings
        self.calls_shown = 0
        self._call: tuple[str, str, str] | None = None
        self._waiting: list[str] = []
        self._brightness = 80

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        """LED controller health and the calls shown."""
        return scalar_telemetry({"calls_shown": self.calls_shown, "brightness_pct": self._brightness},
                                self.led.telemetry())

    async def run(self, device: DeviceHandle) -> None:
        """Keep the panel checked and, after an outage, showing what it should."""
        await self.events.attach(device)
        try:
            while True:
                raise_if_cancelled()  # a stop swallowed by a timeout (devices/cancellation.py)
                was_online = self.led.link.health.online
                try:
                    await self.led.ping()
                    if not was_online:
                        await self._restore()
                except HardwareError:
                    pass  # reported by the link; try again next round
                except Exception:
                    logger.exception("%s: LED panel check failed", device.device_id)
                await asyncio.sleep(self.settings.scroll_interval_s)
        finally:
            self.events.detach()
            self.led.link.close()

    async def _restore(self) -> None:
        await self.led.set_brightness(self._brightness)
        await self.led.show_waiting(self._waiting)
        if self._call is not None:
            await self.led.show_call(*self._call)

    async def handle_command(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``display.call``, ``display.queue``, ``display.set_brightness``, ``device.ping``."""
        if method == "device.ping":
            return {"pong": now_ms()}
        if method == "display.call":
            ticket = text_param(params, "ticket", 16)
            window = label_param(params, "window")
            text = text_param(params, "text", 256, default=f"请 {ticket} 号到 {window} 号窗口")
            self._call = (ticket, window, text)
            await self._on_panel(self.led.show_call(ticket, window, text))
            self.calls_shown += 1
            return {"shown": True, "ticket": ticket, "window": window}
        if method == "display.queue":
            waiting = waiting_list_param(params)
            self._waiting = [f"{service} {' '.join(numbers)}".strip() for service, numbers in waiting.items()]
            await self._on_panel(self.led.show_waiting(self._waiting))
            return {"shown": True, "services": len(waiting)}
        if method == "display.set_brightness":
            self._brightness = round(number_param(params, "brightness", 0, 100))
            await self._on_panel(self.led.set_brightness(self._brightness))
            return {"brightness": self._brightness}
        raise UnknownMethod(method)

    @staticmethod
    async def _on_panel(sending: Awaitable[None]) -> None:
        """Send to the panel; a panel that is away refuses the command (the caller sees why)."""
        try:
            await sending
        except HardwareError as exc:
            raise CommandRefused("hardware_unavailable", f"LED panel: {exc}") from exc
