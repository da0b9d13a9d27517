"""The LED queue display over a serial port (frame format in ``led_frames``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from devices.hardware.card_frames import RejectedFrame
from devices.hardware.errors import DeviceNotAnswering, HardwareError
from devices.hardware.led_frames import (
    ACK,
    BRIGHTNESS,
    NAK,
    PING,
    LedFrame,
    LedFrameDecoder,
    call_frame,
    encode_led_frame,
    waiting_frame,
)
from devices.hardware.link import SerialLink
from devices.hardware.ports import LED_DISPLAY, EventSink
from devices.hardware.settings import LedDisplaySettings

logger = logging.getLogger(__name__)

ATTEMPTS = 2  # one garbled frame on a noisy line is sent again before the panel counts as gone


class DisplayRefused(HardwareError):
    """The controller answered NAK."""


class SerialLedDisplay:
    """An ``LedDisplay`` on a serial port; every frame waits for the controller's ack."""

    def __init__(self, settings: LedDisplaySettings, events: EventSink) -> None:
        self.settings = settings
        self.link = SerialLink(LED_DISPLAY, settings, events, needs_answer=True)
        self._line = asyncio.Lock()
        self.frames_sent = 0

    def telemetry(self) -> dict[str, Any]:
        """``led_display_online``, ``led_display_bad_frames``."""
        return {"led_display_online": self.link.health.online,
                "led_display_bad_frames": self.link.health.bad_frames}

    async def show_call(self, ticket: str, window: str, text: str) -> None:
        """Show one call."""
        await self._send(call_frame(self.settings.address, ticket, window, text))

    async def show_waiting(self, entries: list[str]) -> None:
        """The waiting list the controller scrolls."""
        await self._send(waiting_frame(self.settings.address, entries))

    async def set_brightness(self, percent: int) -> None:
        """Panel brightness 0-100."""
        if not 0 <= percent <= 100:
            raise ValueError("brightness is 0-100")
        await self._send(LedFrame(self.settings.address, BRIGHTNESS, bytes([percent])))

    async def ping(self) -> None:
        """Check that the controller answers (the display agent does this periodically)."""
        await self._send(LedFrame(self.settings.address, PING))

    async def _send(self, frame: LedFrame) -> None:
        raw = encode_led_frame(frame)
        async with self._line:
            for _ in range(ATTEMPTS):
                await self.link.discard_input()
                await self.link.write(raw)
                answer = await self._answer()
                if answer is not None:
                    break
            else:
                await self.link.report_fault("LED controller does not answer")
                raise DeviceNotAnswering(f"{self.link.port}: no answer from address {self.settings.address}")
        await self.link.report_ok()
        if answer.command == NAK:
            raise DisplayRefused(f"display refused the frame: {answer.payload.decode('ascii', 'replace')}")
        self.frames_sent += 1

    async def _answer(self) -> LedFrame | None:
        """The controller's ack or nak, or None when none came in time (a garbled frame gets none)."""
        decoder = LedFrameDecoder()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.timeout_s
        while (left := deadline - loop.time()) > 0:
            data = await self.link.read(left)
            for item in decoder.feed(data):
                if isinstance(item, RejectedFrame):
                    self.link.count_bad_frame(item.reason)
                elif item.address == self.settings.address and item.command in (ACK, NAK):
                    return item
        partial = decoder.drop_partial()
        if partial is not None:
            self.link.count_bad_frame(partial.reason)
        return None
