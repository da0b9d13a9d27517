"""One small interface per device role; serial implementations and in-memory fakes satisfy them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Where drivers send what happened (``printer.paper_out``, ``hardware.fault`` ...)."""

PRINTER = "printer"
CARD_READER = "card_reader"
LOCK_BOARD = "lock_board"
LED_DISPLAY = "led_display"


class PaperState(StrEnum):
    """The paper sensor as telemetry ``printer_paper`` reports it."""

    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TicketPrint:
    """What goes on a queue ticket."""

    ticket: str
    ticket_id: str
    service_name: str
    issued_at_ms: int
    estimated_wait_s: int
    waiting_ahead: int


class TicketPrinter(Protocol):
    """A ticket printer. ``print_ticket`` queues; a ticket that cannot be printed after retries is
    reported as ``printer.print_failed``, never dropped silently."""

    @property
    def paper(self) -> PaperState:
        """The last paper state the printer reported."""
        ...

    @property
    def online(self) -> bool:
        """Whether the printer answered its last status query."""
        ...

    async def print_ticket(self, ticket: TicketPrint) -> None:
        """Queue a ticket for printing."""
        ...

    async def run(self) -> None:
        """Poll the status and print the queue until cancelled."""
        ...


class CardReader(Protocol):
    """A campus card reader: swipes come out of ``next_card`` (debounced)."""

    async def next_card(self) -> str:
        """The next card number swiped."""
        ...

    async def run(self) -> None:
        """Read the reader until cancelled."""
        ...


@dataclass(frozen=True, slots=True)
class LockInputs:
    """One poll of a lock board: door contact, tamper switch, voltages."""

    door_open: bool
    tamper: bool
    supply_v: float
    battery_v: float
    exit_pressed: bool = False


class LockBoard(Protocol):
    """An RS-485 lock board: relays and inputs of one board (one address)."""

    async def pulse(self, relay: int, duration_ms: int) -> None:
        """Energise ``relay`` for ``duration_ms`` (the board times it, not the host); 0 ends a
        pulse at once."""
        ...

    async def read_inputs(self) -> LockInputs:
        """Door contact, tamper and voltages, read now."""
        ...


class LedDisplay(Protocol):
    """A serial LED queue display."""

    async def show_call(self, ticket: str, window: str, text: str) -> None:
        """Show (and keep showing) one call."""
        ...

    async def show_waiting(self, entries: list[str]) -> None:
        """The waiting list the display scrolls through."""
        ...

    async def set_brightness(self, percent: int) -> None:
        """Panel brightness 0-100."""
        ...
