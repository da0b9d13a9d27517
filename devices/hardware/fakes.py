"""In-memory fakes of every hardware port, for unit tests and hardware-less simulators."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from devices.hardware.ports import LockInputs, PaperState, TicketPrint


class FakeTicketPrinter:
    """Keeps printed tickets in ``printed``; set ``paper`` to simulate the sensor."""

    def __init__(self) -> None:
        self.printed: list[TicketPrint] = []
        self.paper = PaperState.OK
        self.online = True

    async def print_ticket(self, ticket: TicketPrint) -> None:
        """Print at once (the fake has no queue)."""
        self.printed.append(ticket)

    async def run(self) -> None:
        """Nothing to poll."""
        await asyncio.Event().wait()


class FakeCardReader:
    """``swipe`` a card; ``next_card`` hands it out."""

    def __init__(self) -> None:
        self._cards: asyncio.Queue[str] = asyncio.Queue()

    def swipe(self, card: str) -> None:
        """A card is presented."""
        self._cards.put_nowait(card)

    async def next_card(self) -> str:
        """The next card swiped."""
        return await self._cards.get()

    async def run(self) -> None:
        """Nothing to read."""
        await asyncio.Event().wait()


@dataclass
class FakeLockBoard:
    """Records pulses; ``inputs`` is what the next poll reads."""

    inputs: LockInputs = field(default_factory=lambda: LockInputs(False, False, 12.0, 12.6))
    pulses: list[tuple[int, int]] = field(default_factory=list)

    async def pulse(self, relay: int, duration_ms: int) -> None:
        """Record the pulse."""
        self.pulses.append((relay, duration_ms))

    async def read_inputs(self) -> LockInputs:
        """The inputs set by the test."""
        return self.inputs


@dataclass
class FakeLedDisplay:
    """Keeps what it was told to show."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    brightness: int = 80

    async def show_call(self, ticket: str, window: str, text: str) -> None:
        """Record the call."""
        self.calls.append((ticket, window, text))

    async def show_waiting(self, entries: list[str]) -> None:
        """Record the list."""
        self.waiting = list(entries)

    async def set_brightness(self, percent: int) -> None:
        """Record the brightness."""
        self.brightness = percent
