"""An emulated ESC/POS thermal printer: parses the stream, answers DLE EOT, runs out of paper.

Every byte must belong to a command it knows (the subset a ticket printer is sent: ESC @,
ESC E/a/t/!/d/-/G/M/J/3, GS !, GS V, GS ( k for QR codes, FS & and FS . for Chinese mode,
DLE EOT, LF/CR/HT and text); anything else is recorded in ``invalid``, so a test can insist
on a valid stream. Text is decoded as GB18030. While the paper is out, print data is lost (a
real printer goes offline), but status queries are still answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from simulators.emulated.pty_port import EmulatedPort

ESC, GS, FS, DLE, EOT = 0x1B, 0x1D, 0x1C, 0x10, 0x04
LF, CR, HT = 0x0A, 0x0D, 0x09
_ESC_ONE_ARG = frozenset(b"Eat!d-GMJ3")
_CUT_NO_ARG = frozenset({0, 1, 48, 49})
_CUT_ONE_ARG = frozenset({65, 66})
STATUS_OK = 0x12  # DLE EOT n answer with no bits set but the fixed ones
PAPER_NEAR_END_BITS = 0x0C
PAPER_OUT_BITS = 0x60


class Paper(StrEnum):
    """The emulated paper roll."""

    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"


@dataclass(slots=True)
class PrintedLine:
    """A line of text with the character size it was printed in."""

    text: str
    width: int
    height: int


@dataclass(slots=True)
class Receipt:
    """What came out of the printer between an ESC @ and a cut."""

    lines: list[PrintedLine] = field(default_factory=list)
    qr_codes: list[str] = field(default_factory=list)
    cut: bool = False
    chinese_mode: bool = False

    def text(self) -> str:
        """All lines, newline separated."""
        return "\n".join(line.text for line in self.lines)


class EmulatedPrinter:
    """A printer on a pty; flip ``paper`` to test the sensor."""

    def __init__(self, path: Path) -> None:
        self.port = EmulatedPort(path, self.feed)
        self.paper = Paper.OK
        self.receipts: list[Receipt] = []  # finished (cut) tickets
        self.invalid: list[str] = []
        self.status_queries = 0
        self.garbled_answers = 0
        """How many of the next status answers are line noise instead."""
        self.lost_bytes = 0
        self._buffer = bytearray()
        self._current = Receipt()
        self._line = bytearray()
        self._width = self._height = 1
        self._qr_pending = ""

    async def __aenter__(self) -> EmulatedPrinter:
        self.port.plug()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.port.unplug()

    def feed(self, data: bytes) -> None:
        """Bytes from the host, as if they came down the line."""
        self._buffer += data
        while self._buffer:
            used = self._command(bytes(self._buffer))
            if used == 0:
                break  # an incomplete command: wait for the rest
            del self._buffer[:used]

    def _status_byte(self, n: int) -> int:
        if n == 4:
            return STATUS_OK | {Paper.OK: 0, Paper.NEAR_END: PAPER_NEAR_END_BITS,
                                Paper.OUT: PAPER_NEAR_END_BITS | PAPER_OUT_BITS}[self.paper]
        if n == 2 and self.paper == Paper.OUT:
            return STATUS_OK | 0x20  # offline cause: paper end
        return STATUS_OK

    def _command(self, buf: bytes) -> int:
        """Consume one command at the start of ``buf``; its length, or 0 if incomplete."""
        first = buf[0]
        if first == DLE:
            if len(buf) < 3:
                return 0
            if buf[1] == EOT and buf[2] in (1, 2, 3, 4):
                self.status_queries += 1
                answer = self._status_byte(buf[2])
                if self.garbled_answers > 0:
                    self.garbled_answers -= 1
                    answer = 0xFF
                self.port.send(bytes([answer]))
                return 3
            self.invalid.append(f"DLE {buf[1:3].hex()}")
            return 1
        if self.paper == Paper.OUT:
            # Offline: print data is lost; only real-time commands (DLE) are obeyed.
            self.lost_bytes += 1
            self._current = Receipt()
            self._line.clear()
            return 1
        if first == ESC:
            return self._esc(buf)
        if first == GS:
            return self._gs(buf)
        if first == FS:
            if len(buf) < 2:
                return 0
            if buf[1] in b"&.":
                self._current.chinese_mode = buf[1] == ord("&")
                return 2
            self.invalid.append(f"FS {buf[1]:02x}")
            return 2
        if first == LF:
            self._end_line()
            return 1
        if first in (CR, HT):
            return 1
        if first < 0x20 or first == 0x7F:
            self.invalid.append(f"control byte {first:02x}")
            return 1
        end = 1
        while end < len(buf) and buf[end] >= 0x20 and buf[end] != 0x7F:
            end += 1
        self._line += buf[:end]
        return end

    def _esc(self, buf: bytes) -> int:
        if len(buf) < 2:
            return 0
        op = buf[1]
        if op == ord("@"):
            self._current = Receipt()
            self._line.clear()
            self._width = self._height = 1
            return 2
        if op in _ESC_ONE_ARG:
            if len(buf) < 3:
                return 0
            if op == ord("!"):
                # ESC ! n: bit 4 double height, bit 5 double width.
                self._height = 2 if buf[2] & 0x10 else 1
                self._width = 2 if buf[2] & 0x20 else 1
            return 3
        self.invalid.append(f"ESC {op:02x}")
        return 2

    def _gs(self, buf: bytes) -> int:
        if len(buf) < 2:
            return 0
        op = buf[1]
        if op == ord("!"):
            if len(buf) < 3:
                return 0
            self._width, self._height = (buf[2] >> 4) + 1, (buf[2] & 0x0F) + 1
            return 3
        if op == ord("V"):
            if len(buf) < 3:
                return 0
            if buf[2] in _CUT_NO_ARG:
                self._cut()
                return 3
            if buf[2] in _CUT_ONE_ARG:
                if len(buf) < 4:
                    return 0
                self._cut()
                return 4
            self.invalid.append(f"GS V {buf[2]:02x}")
            return 3
        if op == ord("("):
            if len(buf) < 5:
                return 0
            size = buf[3] | buf[4] << 8
            if len(buf) < 5 + size:
                return 0
            self._two_d_code(buf[2], buf[5:5 + size])
            return 5 + size
        self.invalid.append(f"GS {op:02x}")
        return 2

    def _two_d_code(self, kind: int, data: bytes) -> None:
        if kind != ord("k") or len(data) < 2 or data[0] != ord("1"):
            self.invalid.append(f"GS ( {kind:02x} {data[:2].hex()}")
            return
        function = data[1]
        if function == 80:  # store the data: m = '0', then the content
            self._qr_pending = data[3:].decode("utf-8", "replace")
        elif function == 81:  # print the stored symbol
            self._current.qr_codes.append(self._qr_pending)
        elif function not in (65, 67, 69):  # model, module size, error correction
            self.invalid.append(f"QR function {function}")

    def _end_line(self) -> None:
        try:
            text = self._line.decode("gb18030")
        except UnicodeDecodeError:
            self.invalid.append(f"text that is not GB18030: {bytes(self._line).hex()}")
            text = self._line.decode("gb18030", "replace")
        self._current.lines.append(PrintedLine(text, self._width, self._height))
        self._line.clear()

    def _cut(self) -> None:
        if self._line:
            self._end_line()
        self._current.cut = True
        self.receipts.append(self._current)
        self._current = Receipt()
