"""What the clerk flow (``queue/clerk.py``) answers: a window's status, a take-over, a completion."""

from __future__ import annotations

from dataclasses import dataclass

from hall_controller.queue.model import Ticket, WindowDef
from hall_controller.queue.ports import WindowSession


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
