"""The LED queue display controller's frame (both directions use the same shape).

    STX  ADDR  CMD  LEN_HI LEN_LO  PAYLOAD...       SUM  ETX
    02   a     c    big-endian n   n bytes GB18030  s    03

``SUM`` is the sum of ADDR, CMD, LEN_HI, LEN_LO and every payload byte, modulo 256. Commands
(host → controller): ``C`` show a call (payload ``ticket US window US text``, US = 0x1F),
``W`` the waiting list (entries separated by RS = 0x1E; the controller scrolls them),
``B`` brightness (one byte 0-100), ``P`` ping (empty). The controller answers every frame
addressed to it with ``A`` (ack, empty payload) or ``N`` (nak, payload = the reason in ASCII).
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.hardware.card_frames import RejectedFrame, drop_before_start

STX = 0x02
ETX = 0x03
MAX_PAYLOAD = 1024
ENCODING = "gb18030"
UNIT_SEPARATOR = "\x1f"
RECORD_SEPARATOR = "\x1e"

CALL = ord("C")
WAITING = ord("W")
BRIGHTNESS = ord("B")
PING = ord("P")
ACK = ord("A")
NAK = ord("N")
COMMANDS = frozenset({CALL, WAITING, BRIGHTNESS, PING, ACK, NAK})


@dataclass(frozen=True, slots=True)
class LedFrame:
    """One frame: who it is for, what it asks, and its payload bytes."""

    address: int
    command: int
    payload: bytes = b""

    def text(self) -> str:
        """The payload as text."""
        return self.payload.decode(ENCODING)


def _checksum(header_and_payload: bytes) -> int:
    return sum(header_and_payload) & 0xFF


def encode_led_frame(frame: LedFrame) -> bytes:
    """The bytes on the line for ``frame``."""
    if not 0 <= frame.address <= 255 or frame.command not in COMMANDS:
        raise ValueError(f"bad address or command: {frame.address}, {frame.command}")
    if len(frame.payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(frame.payload)} bytes exceeds {MAX_PAYLOAD}")
    inner = bytes([frame.address, frame.command]) + len(frame.payload).to_bytes(2, "big") + frame.payload
    return bytes([STX]) + inner + bytes([_checksum(inner), ETX])


def call_frame(address: int, ticket: str, window: str, text: str) -> LedFrame:
    """A ``C`` frame; separators inside the fields are replaced so they cannot split it."""
    fields = [f.replace(UNIT_SEPARATOR, " ").replace(RECORD_SEPARATOR, " ") for f in (ticket, window, text)]
    return LedFrame(address, CALL, UNIT_SEPARATOR.join(fields).encode(ENCODING))


def waiting_frame(address: int, entries: list[str]) -> LedFrame:
    """A ``W`` frame with the waiting list, cut to fit the payload limit."""
    clean = [e.replace(RECORD_SEPARATOR, " ").replace(UNIT_SEPARATOR, " ") for e in entries]
    payload = RECORD_SEPARATOR.join(clean).encode(ENCODING)
    while len(payload) > MAX_PAYLOAD and clean:
        clean.pop()
        payload = RECORD_SEPARATOR.join(clean).encode(ENCODING)
    return LedFrame(address, WAITING, payload)


class LedFrameDecoder:
    """Turns a byte stream into frames; garbage, bad sums and cut frames are rejected."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[LedFrame | RejectedFrame]:
        """Frames and rejected bytes, in the order they arrived."""
        self._buffer += data
        out: list[LedFrame | RejectedFrame] = []
        while self._buffer:
            junk = drop_before_start(self._buffer, STX)
            if junk is not None:
                out.append(junk)
                continue
            if len(self._buffer) < 5:
                break
            length = int.from_bytes(self._buffer[3:5], "big")
            if length > MAX_PAYLOAD or self._buffer[2] not in COMMANDS:
                out.append(RejectedFrame(bytes(self._buffer[:5]), "bad command or length"))
                del self._buffer[:1]
                continue
            size = length + 7
            if len(self._buffer) < size:
                break
            raw = bytes(self._buffer[:size])
            if raw[-1] != ETX:
                out.append(RejectedFrame(raw, "no ETX where the frame should end"))
                del self._buffer[:1]
                continue
            del self._buffer[:size]
            inner = raw[1:-2]
            if raw[-2] != _checksum(inner):
                out.append(RejectedFrame(raw, "checksum mismatch"))
                continue
            out.append(LedFrame(inner[0], inner[1], inner[4:]))
        return out

    def drop_partial(self) -> RejectedFrame | None:
        """Give up on an unfinished frame."""
        if not self._buffer:
            return None
        rejected = RejectedFrame(bytes(self._buffer), "partial frame")
        self._buffer.clear()
        return rejected
