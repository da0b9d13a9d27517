"""An emulated LED queue display controller (frame format in devices/hardware/led_frames.py)."""

from __future__ import annotations

from pathlib import Path

from devices.hardware.card_frames import RejectedFrame
from devices.hardware.led_frames import (
    ACK,
    BRIGHTNESS,
    CALL,
    ENCODING,
    NAK,
    PING,
    RECORD_SEPARATOR,
    UNIT_SEPARATOR,
    WAITING,
    LedFrame,
    LedFrameDecoder,
    encode_led_frame,
)
from simulators.emulated.pty_port import EmulatedPort


class EmulatedLedController:
    """Shows what it is sent; answers ack/nak to frames for its address, ignores the rest."""

    def __init__(self, path: Path, address: int = 1) -> None:
        self.port = EmulatedPort(path, self._received)
        self.address = address
        self.call: tuple[str, str, str] | None = None
        self.calls: list[tuple[str, str, str]] = []
        self.waiting: list[str] = []
        self.brightness = 80
        self.bad_frames = 0
        self.corrupt_answers = 0
        """How many of the next answers go out with a broken checksum (line noise)."""
        self._decoder = LedFrameDecoder()

    async def __aenter__(self) -> EmulatedLedController:
        self.port.plug()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.port.unplug()

    def _received(self, data: bytes) -> None:
        for item in self._decoder.feed(data):
            if isinstance(item, RejectedFrame):
                self.bad_frames += 1  # a real controller stays silent; the host times out
            elif item.address == self.address:
                self._answer(self._obey(item))

    def _obey(self, frame: LedFrame) -> str:
        """What went wrong, or "" when the frame was shown."""
        try:
            text = frame.payload.decode(ENCODING)
        except UnicodeDecodeError:
            return "payload is not GB18030"
        if frame.command == CALL:
            fields = text.split(UNIT_SEPARATOR)
            if len(fields) != 3:
                return "a call has three fields"
            self.call = (fields[0], fields[1], fields[2])
            self.calls.append(self.call)
        elif frame.command == WAITING:
            self.waiting = text.split(RECORD_SEPARATOR) if text else []
        elif frame.command == BRIGHTNESS:
            if len(frame.payload) != 1 or frame.payload[0] > 100:
                return "brightness is one byte 0-100"
            self.brightness = frame.payload[0]
        elif frame.command != PING:
            return "unknown command"
        return ""

    def _answer(self, problem: str) -> None:
        if problem:
            reply = LedFrame(self.address, NAK, problem.encode("ascii"))
        else:
            reply = LedFrame(self.address, ACK)
        raw = encode_led_frame(reply)
        if self.corrupt_answers > 0:
            self.corrupt_answers -= 1
            raw = raw[:-2] + bytes([raw[-2] ^ 0xFF]) + raw[-1:]
        self.port.send(raw)
