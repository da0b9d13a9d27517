"""The campus card reader's frame: what the reader sends on every swipe.

    STX  LEN  DATA...            BCC  ETX
    02   n    n ASCII digits     xor  03

``LEN`` is the number of data bytes (4-20), ``DATA`` the card number in ASCII digits, ``BCC``
the XOR of ``LEN`` and every data byte. The reader sends nothing else and expects no answer.
"""

from __future__ import annotations

from dataclasses import dataclass

STX = 0x02
ETX = 0x03
MIN_DIGITS = 4
MAX_DIGITS = 20


def _bcc(body: bytes) -> int:
    result = 0
    for byte in body:
        result ^= byte
    return result


def encode_card_frame(card_number: str) -> bytes:
    """The frame a reader sends for ``card_number`` (the emulator uses this too)."""
    if not (card_number.isascii() and card_number.isdigit() and MIN_DIGITS <= len(card_number) <= MAX_DIGITS):
        raise ValueError(f"a card number is {MIN_DIGITS}-{MAX_DIGITS} ASCII digits, not {card_number!r}")
    body = bytes([len(card_number)]) + card_number.encode("ascii")
    return bytes([STX]) + body + bytes([_bcc(body), ETX])


@dataclass(frozen=True, slots=True)
class RejectedFrame:
    """Bytes that were not a frame, and why."""

    data: bytes
    reason: str


def drop_before_start(buffer: bytearray, start: int) -> RejectedFrame | None:
    """Resynchronise a stream: remove (and return as rejected) whatever precedes the next start
    byte, or the whole buffer when there is none. None when the buffer starts with one."""
    at = buffer.find(start)
    if at == 0:
        return None
    junk = bytes(buffer if at < 0 else buffer[:at])
    del buffer[:len(junk)]
    return RejectedFrame(junk, "bytes outside a frame")


class CardFrameDecoder:
    """Turns a byte stream into card numbers; garbage, bad checksums and cut frames are rejected."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame waiting for the rest."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[str | RejectedFrame]:
        """Card numbers and rejected frames, in the order they arrived."""
        self._buffer += data
        out: list[str | RejectedFrame] = []
        while self._buffer:
            junk = drop_before_start(self._buffer, STX)
            if junk is not None:
                out.append(junk)
                continue
            if len(self._buffer) < 2:
                break
            length = self._buffer[1]
            if not MIN_DIGITS <= length <= MAX_DIGITS:
                out.append(RejectedFrame(bytes(self._buffer[:2]), f"length {length} out of range"))
                del self._buffer[:1]  # hunt for the next STX from the byte after this one
                continue
            size = length + 4
            if len(self._buffer) < size:
                break
            frame = bytes(self._buffer[:size])
            body = frame[1:-2]
            if frame[-1] != ETX:
                out.append(RejectedFrame(frame, "no ETX where the frame should end"))
                del self._buffer[:1]
                continue
            del self._buffer[:size]
            if frame[-2] != _bcc(body):
                out.append(RejectedFrame(frame, "checksum mismatch"))
            elif not body[1:].isdigit():
                out.append(RejectedFrame(frame, "card number is not digits"))
            else:
                out.append(body[1:].decode("ascii"))
        return out

    def drop_partial(self) -> RejectedFrame | None:
        """Give up on an unfinished frame (the line went quiet mid-frame)."""
        if not self._buffer:
            return None
        rejected = RejectedFrame(bytes(self._buffer), "partial frame")
        self._buffer.clear()
        return rejected
