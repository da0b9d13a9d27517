"""The thermal ticket printer over a serial port: ESC/POS by python-escpos, status by DLE EOT.

The ticket is rendered by python-escpos (``Dummy`` printer: large number, service name, time,
estimated wait, a native QR code of the ticket id; Chinese text goes out in GB18030) and written
through a ``SerialLink``. The paper sensor is read with ``DLE EOT 4`` between jobs and around
each job: a job written while the paper ran out is printed again once paper is back, and a job
that still fails after the configured attempts (or time) is reported as ``printer.print_failed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from devices.cancellation import raise_if_cancelled
from devices.hardware.errors import BadFrame, DeviceNotAnswering, PortUnavailable
from devices.hardware.link import SerialLink
from devices.hardware.ports import PRINTER, EventSink, PaperState, TicketPrint
from devices.hardware.settings import PrinterSettings

logger = logging.getLogger(__name__)


def _import_escpos_keeping_logging() -> None:
    """python-escpos calls ``logging.basicConfig()`` when it is imported: that would add a root
    handler, after which the application's own ``basicConfig`` silently does nothing. Import it
    here and take back whatever handler it added."""
    root = logging.getLogger()
    before = list(root.handlers)
    import escpos.printer  # noqa: F401 - imported for its side effect, undone below

    for handler in root.handlers:
        if handler not in before:
            root.removeHandler(handler)


_import_escpos_keeping_logging()

from escpos.constants import RT_MASK_LOWPAPER, RT_MASK_NOPAPER, RT_STATUS_PAPER  # noqa: E402
from escpos.printer import Dummy  # noqa: E402

CHINESE_MODE_ON = b"\x1c\x26"  # FS &: GB18030 double-byte characters on Chinese printers
QUEUE_LIMIT = 64
CHINA_TIME = timezone(timedelta(hours=8))
_STATUS_FIXED_MASK = 0x93  # bits 0, 1, 4, 7 of every DLE EOT answer
_STATUS_FIXED_BITS = 0x12  # ... are 0, 1, 1, 0


def render_ticket(ticket: TicketPrint, tz: timezone = CHINA_TIME) -> bytes:
    """The ESC/POS bytes of one ticket."""
    printer = Dummy()
    printer.hw("INIT")
    printer._raw(CHINESE_MODE_ON)  # python-escpos has no call for FS &; its text() sends GB18030
    printer.set(align="center", bold=True, custom_size=True, width=4, height=4)
    printer.textln(ticket.ticket)
    printer.set(align="center", bold=False, normal_textsize=True)
    printer.textln(ticket.service_name)
    issued = datetime.fromtimestamp(ticket.issued_at_ms / 1000, UTC).astimezone(tz)
    printer.textln(f"取号时间 {issued:%Y-%m-%d %H:%M}")
    wait_min = max(1, round(ticket.estimated_wait_s / 60))
    printer.textln(f"前面还有 {ticket.waiting_ahead} 人  预计等待 {wait_min} 分钟")
    printer.qr(ticket.ticket_id, native=True, size=6)
    printer.cut()
    return bytes(printer.output)


def decode_paper_status(answer: int) -> PaperState:
    """The paper sensor from a ``DLE EOT 4`` answer byte (bit masks from python-escpos)."""
    if answer & _STATUS_FIXED_MASK != _STATUS_FIXED_BITS:
        raise BadFrame(f"not a status byte: 0x{answer:02x}")
    if answer & RT_MASK_NOPAPER == RT_MASK_NOPAPER:
        return PaperState.OUT
    if answer & RT_MASK_LOWPAPER == RT_MASK_LOWPAPER:
        return PaperState.NEAR_END
    return PaperState.OK


_PAPER_EVENTS = {PaperState.NEAR_END: "printer.paper_near_end", PaperState.OUT: "printer.paper_out"}


class SerialTicketPrinter:
    """A ``TicketPrinter`` on a serial port."""

    def __init__(self, settings: PrinterSettings, events: EventSink) -> None:
        self.settings = settings
        self.link = SerialLink(PRINTER, settings, events, needs_answer=True)
        self._events = events
        self._paper = PaperState.UNKNOWN
        self._line = asyncio.Lock()  # one exchange at a time: a status answer belongs to its query
        self._queue: deque[TicketPrint] = deque()
        self._queued = asyncio.Event()
        self.tickets_printed = 0
        self.print_failures = 0

    @property
    def paper(self) -> PaperState:
        """The last paper state the printer reported."""
        return self._paper

    @property
    def online(self) -> bool:
        """Whether the printer answered its last status query."""
        return self.link.health.online

    def telemetry(self) -> dict[str, Any]:
        """``printer_paper``, ``printer_online``, ``printer_bad_frames``, counters."""
        return {"printer_paper": self._paper.value, "printer_online": self.online,
                "printer_bad_frames": self.link.health.bad_frames,
                "tickets_printed": self.tickets_printed, "print_failures": self.print_failures}

    async def print_ticket(self, ticket: TicketPrint) -> None:
        """Queue a ticket; a full queue (printer long gone) reports the ticket as failed at once."""
        if len(self._queue) >= QUEUE_LIMIT:
            await self._failed(ticket, "print queue full")
            return
        self._queue.append(ticket)
        self._queued.set()

    async def run(self) -> None:
        """Poll the paper sensor and print the queue until cancelled."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._poll_status(), name="printer:status")
                tasks.create_task(self._print_queue(), name="printer:queue")
        finally:
            self.link.close()

    async def _poll_status(self) -> None:
        while True:
            raise_if_cancelled()  # a stop swallowed by a timeout (devices/cancellation.py)
            try:
                async with self._line:
                    await self._query_paper()
            except (PortUnavailable, DeviceNotAnswering, BadFrame):
                pass  # already reported by the link; the next poll tries again
            except Exception:
                logger.exception("printer status poll failed")
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _query_paper(self) -> PaperState:
        """Ask the paper sensor; updates the state and reports changes. Hold ``_line``."""
        await self.link.discard_input()
        await self.link.write(RT_STATUS_PAPER)
        answer = await self.link.read()
        if not answer:
            await self.link.report_fault("printer does not answer status queries")
            raise DeviceNotAnswering(f"{self.link.port}: no status answer")
        try:
            state = decode_paper_status(answer[-1])
        except BadFrame as exc:
            self.link.count_bad_frame(str(exc))
            raise
        await self.link.report_ok()
        await self._paper_is(state)
        return state

    async def _paper_is(self, state: PaperState) -> None:
        previous, self._paper = self._paper, state
        if state == previous:
            return
        if state in _PAPER_EVENTS:
            await self._events(_PAPER_EVENTS[state], {})
        elif state == PaperState.OK and previous in _PAPER_EVENTS:
            await self._events("printer.paper_ok", {})

    async def _print_queue(self) -> None:
        while True:
            raise_if_cancelled()  # a stop swallowed by a timeout (devices/cancellation.py)
            await self._queued.wait()
            if not self._queue:
                self._queued.clear()
                continue
            ticket = self._queue[0]
            await self._print_with_retries(ticket)
            self._queue.popleft()

    async def _print_with_retries(self, ticket: TicketPrint) -> None:
        job = render_ticket(ticket)
        deadline = time.monotonic() + self.settings.retry_within_s
        reason = ""
        for attempt in range(1, self.settings.print_attempts + 1):
            try:
                async with self._line:
                    reason = await self._print_once(job)
            except (PortUnavailable, DeviceNotAnswering, BadFrame) as exc:
                reason = f"printer unavailable: {exc}"
            except Exception as exc:  # a driver bug must not lose the ticket silently
                logger.exception("printing ticket %s failed", ticket.ticket)
                reason = f"driver error: {exc!r}"
            if not reason:
                self.tickets_printed += 1
                logger.info("printed ticket %s", ticket.ticket, extra={"ticket": ticket.ticket})
                return
            logger.warning("ticket %s not printed (attempt %d): %s", ticket.ticket, attempt, reason,
                           extra={"ticket": ticket.ticket})
            if attempt == self.settings.print_attempts or time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(self.settings.poll_interval_s * attempt,
                                    max(0.0, deadline - time.monotonic())))
        await self._failed(ticket, reason)

    async def _print_once(self, job: bytes) -> str:
        """Print one job; the reason it failed, or "" when it was printed."""
        if await self._query_paper() == PaperState.OUT:
            return "paper out"
        await self.link.write(job)
        # The paper may have run out during the job: then the ticket is cut short.
        if await self._query_paper() == PaperState.OUT:
            return "paper ran out while printing"
        return ""

    async def _failed(self, ticket: TicketPrint, reason: str) -> None:
        self.print_failures += 1
        await self._events("printer.print_failed", {"ticket": ticket.ticket, "reason": reason})
