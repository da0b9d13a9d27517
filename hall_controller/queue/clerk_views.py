"""What the clerk flow (``queue/clerk.py``) is given (its settings, a ticket reader) and what it
answers (a window's status, a take-over, a completion)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from typing import Protocol

from hall_controller.queue.displays import CALL_TEXT
from hall_controller.queue.model import ServiceDef, Ticket, WindowDef
from hall_controller.queue.ports import WindowSession
from hall_controller.queue.rules import DEFAULT_MAX_RECALLS, CallingPolicy
from hall_controller.queue.service_day import DEFAULT_ROLLOVER


class TicketReader(Protocol):
    """The one thing the clerk flow reads from the ticket store directly."""

    async def get_ticket(self, ticket_id: str) -> Ticket | None: ...


@dataclass(frozen=True, slots=True)
class ClerkSettings:
    """The windows and calling rules (``[[queue.windows]]`` and ``[queue.calling]``)."""

    windows: tuple[WindowDef, ...]
    # The hall's services: their names go on the displays' waiting list, and they are what a
    # ticket may be transferred to. Empty: the services the windows serve.
    services: tuple[ServiceDef, ...] = ()
    policy: CallingPolicy = field(default_factory=CallingPolicy)
    max_recalls: int = DEFAULT_MAX_RECALLS
    timezone: str = "Asia/Shanghai"     # the service day of "today's queue" ...
    rollover_at: time = DEFAULT_ROLLOVER  # ... ends at this local time, as the tickets' does
    lang: str = "zh-CN"                 # the language displays announce in
    queue_preview: int = 5              # waiting numbers per service a display shows

    def __post_init__(self) -> None:
        if self.lang not in CALL_TEXT:
            raise ValueError(f"lang: expected one of {', '.join(CALL_TEXT)}")
        if self.max_recalls < 0:
            raise ValueError("max_recalls must not be negative")
        ids = [w.window_id for w in self.windows]
        numbers = [w.number for w in self.windows]
        if len(set(ids)) != len(ids) or len(set(numbers)) != len(numbers):
            raise ValueError("window ids and numbers must be unique")




@dataclass(frozen=True, slots=True)
class WindowStatus:
    """What the window terminal shows."""

    window: WindowDef
    session: WindowSession | None
    current: Ticket | None              # called or serving at this window
    parked: list[Ticket]                # set aside at this window, oldest first
    waiting: list[Ticket]               # today's queue of the window's services, oldest first
    next_up: Ticket | None              # who "call next" would get now


@dataclass(frozen=True, slots=True)
class TakeOver:
    """What a supervisor's take-over or forced close left behind."""

    session: WindowSession | None       # the supervisor's (take-over); None: closed
    previous_clerk: str | None          # who held the window, if anyone
    parked: Ticket | None               # the ticket that was at the window, now parked


@dataclass(frozen=True, slots=True)
class Completion:
    """A completed ticket and what happened to its linked online cases."""

    ticket: Ticket
    cases_advanced: list[str]
    # Advancing these failed (logged). ``CaseLinks.complete_linked`` is idempotent, so
    # ``ClerkService.advance_cases`` may simply be run again for the ticket.
    cases_failed: list[str]
