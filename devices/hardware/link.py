"""A serial port that reopens itself: the one place that knows a USB adapter can vanish.

Every driver talks to its device through a ``SerialLink``. The link opens the port (pyserial),
turns pyserial/OS errors into ``PortUnavailable``, reopens with jittered exponential backoff,
and emits ``hardware.fault`` once per outage and ``hardware.recovered`` (with the outage length)
when the part works again. A device that stops answering on an open port is reported the same
way by its driver (``report_fault``); such a link is only healthy again once the device answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import termios
import time
from dataclasses import dataclass
from typing import Any

import serial

from devices.hardware.errors import PortUnavailable
from devices.hardware.ports import EventSink
from devices.hardware.settings import SerialPortSettings

logger = logging.getLogger(__name__)

READ_CHUNK = 4096
# What pyserial and the OS raise when a port vanishes (termios.error is no OSError).
PORT_ERRORS = (serial.SerialException, OSError, termios.error)


@dataclass(slots=True)
class LinkHealth:
    """What telemetry says about a link: ``<part>_online`` and ``<part>_bad_frames``."""

    online: bool = False
    bad_frames: int = 0
    faults: int = 0
    last_reason: str = ""


class SerialLink:
    """One serial port of one part (``printer``, ``card_reader``, ``lock_board``, ``led_display``)."""

    def __init__(self, part: str, settings: SerialPortSettings, events: EventSink | None = None, *,
                 needs_answer: bool = False, wait_for_port: bool = False,
                 rng: random.Random | None = None) -> None:
        self.part = part
        self.settings = settings
        self.health = LinkHealth()
        self._events = events
        # A device that answers (printer, lock board, LED controller) is healthy once it has
        # answered; a talk-only device (card reader) once its port is open.
        self._needs_answer = needs_answer
        self._wait_for_port = wait_for_port
        self._next_attempt_at = 0.0
        self._serial: serial.Serial | None = None
        self._down_since: float | None = time.monotonic()
        self._reported_down = False
        # Jitter only spreads reopen attempts; it is not a secret.
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def port(self) -> str:
        """The configured port path."""
        return self.settings.port

    @property
    def is_open(self) -> bool:
        """Whether the port is open right now."""
        return self._serial is not None

    # --- opening ------------------------------------------------------------------------------

    def _open_once(self) -> serial.Serial:
        s = self.settings
        try:
            return serial.Serial(port=s.port, baudrate=s.baudrate, bytesize=s.bytesize, parity=s.parity,
                                 stopbits=s.stopbits, timeout=s.timeout_s, write_timeout=s.write_timeout_s,
                                 exclusive=True)
        except (*PORT_ERRORS, ValueError) as exc:
            raise PortUnavailable(f"cannot open {s.port}: {exc}") from exc

    async def open(self) -> serial.Serial:
        """The open port, opening it if needed.

        Reopen attempts are spaced by jittered exponential backoff. A link made with
        ``wait_for_port`` waits for the port for as long as it takes (a reader's read loop);
        otherwise a missing port raises ``PortUnavailable`` at once, so a command or a print
        attempt fails fast and its caller decides what to do.
        """
        loop = asyncio.get_running_loop()
        while self._serial is None:
            delay = self._next_attempt_at - loop.time()
            if delay > 0:
                if not self._wait_for_port:
                    raise PortUnavailable(f"{self.port} is unavailable: {self.health.last_reason}")
                await asyncio.sleep(delay)
            try:
                self._serial = self._open_once()
            except PortUnavailable as exc:
                self._next_attempt_at = loop.time() + self._next_delay()
                await self.report_fault(str(exc))
                if not self._wait_for_port:
                    raise
                continue
            logger.info("%s: opened %s", self.part, self.port, extra={"part": self.part})
            self._attempt = 0
            if not self._needs_answer:
                await self.report_ok()
        return self._serial

    def _next_delay(self) -> float:
        s = self.settings
        ceiling = min(s.reopen_max_s, s.reopen_initial_s * 2.0 ** min(self._attempt, 32))
        self._attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def close(self) -> None:
        """Close the port (it is reopened by the next ``open``)."""
        if self._serial is not None:
            with contextlib.suppress(*PORT_ERRORS):
                self._serial.close()
            self._serial = None

    async def __aenter__(self) -> SerialLink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # --- I/O ----------------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        """Write all of ``data`` (in a thread: a full output buffer must not stall the loop)."""
        port = await self.open()
        try:
            await asyncio.to_thread(self._write_all, port, data)
        except PORT_ERRORS as exc:
            await self._lost(f"write failed: {exc}")

    @staticmethod
    def _write_all(port: serial.Serial, data: bytes) -> None:
        written = port.write(data)
        if written is not None and written != len(data):
            raise serial.SerialTimeoutException(f"wrote {written} of {len(data)} bytes")
        port.flush()

    async def read(self, timeout_s: float | None = None) -> bytes:
        """The bytes that arrive within ``timeout_s`` (default: the port's timeout); may be empty."""
        port = await self.open()
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        fd = port.fileno()
        loop.add_reader(fd, wake)
        try:
            async with asyncio.timeout(self.settings.timeout_s if timeout_s is None else timeout_s):
                await readable
        except TimeoutError:
            return b""
        finally:
            loop.remove_reader(fd)
        try:
            # Readable with nothing to read is how Linux reports a vanished tty (EIO/hangup).
            data: bytes = port.read(max(1, min(port.in_waiting, READ_CHUNK)))
        except PORT_ERRORS as exc:
            await self._lost(f"read failed: {exc}")
        if not data:
            await self._lost("port hung up")
        return data

    async def discard_input(self) -> None:
        """Drop bytes already received (a stale answer must not be taken for the next one)."""
        port = await self.open()
        try:
            port.reset_input_buffer()
        except PORT_ERRORS as exc:
            await self._lost(f"flush failed: {exc}")

    async def _lost(self, reason: str) -> Any:
        self.close()
        await self.report_fault(reason)
        raise PortUnavailable(f"{self.port}: {reason}")

    # --- health -------------------------------------------------------------------------------

    def count_bad_frame(self, why: str) -> None:
        """A garbled or partial frame was rejected."""
        self.health.bad_frames += 1
        logger.warning("%s: rejected a bad frame on %s: %s", self.part, self.port, why,
                       extra={"part": self.part})

    async def report_fault(self, reason: str) -> None:
        """The part is unusable; the listener hears it once per outage."""
        self.health.online = False
        self.health.last_reason = reason
        if self._down_since is None:
            self._down_since = time.monotonic()
        if self._reported_down:
            return
        self._reported_down = True
        self.health.faults += 1
        logger.warning("%s on %s is down: %s", self.part, self.port, reason, extra={"part": self.part})
        if self._events is not None:
            await self._events("hardware.fault", {"part": self.part, "port": self.port, "reason": reason})

    async def report_ok(self) -> None:
        """The part works; after a reported outage the listener hears how long it lasted."""
        was_reported = self._reported_down
        outage_s = 0.0 if self._down_since is None else time.monotonic() - self._down_since
        self.health.online = True
        self._down_since = None
        self._reported_down = False
        if was_reported:
            logger.info("%s on %s recovered after %.1f s", self.part, self.port, outage_s,
                        extra={"part": self.part})
            if self._events is not None:
                await self._events("hardware.recovered", {"part": self.part, "port": self.port,
                                                          "outage_s": round(outage_s, 3)})
