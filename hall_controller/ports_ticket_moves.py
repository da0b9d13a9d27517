"""The port of the clerk's side of the queue: storing ticket moves and window sessions.

Kept apart from ``ports_tickets`` (issuing) so the kiosk work and the window work do not
clash. ``adapters/postgres/ticket_moves.PostgresTicketMoves`` implements it over PostgreSQL,
``adapters/memory_ticket_moves.MemoryTicketMoves`` in memory; the contract tests in
``tests/support/ticket_moves_contract.py`` hold both to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hall_controller.domain.queue import Moved
from hall_controller.domain.queue_model import Ticket, TicketState
from hall_controller.errors import Conflict


class MoveConflict(Conflict):
    """The ticket is no longer in the state the move started from: another window (or
    controller) moved it meanwhile. Re-read and decide again."""


@dataclass(frozen=True, slots=True)
class WindowSession:
    """A clerk at a window, from opening to closing."""

    window_id: str
    clerk: str
    opened_ms: int
    closed_ms: int | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_ms is None


@dataclass(frozen=True, slots=True)
class ClerkDay:
    """One clerk's work on one service day, from the transitions they made ("my figures")."""

    called: int = 0          # tickets they called (a recall is not another call)
    done: int = 0            # tickets they completed
    no_show: int = 0
    transferred: int = 0
    service_s_total: float = 0.0  # start of service → completion, over the completed ones

    @property
    def mean_service_s(self) -> float | None:
        return self.service_s_total / self.done if self.done else None


@runtime_checkable
class TicketMoveStore(Protocol):
    async def apply_move(self, moved: Moved, expected_state: TicketState) -> Ticket:
        """Write the moved ticket and append its transition in one transaction, only if the
        stored ticket is still in ``expected_state`` (optimistic concurrency: two windows
        calling the same ticket at once, one of them gets MoveConflict). Never touches the
        ticket's linked cases, nor its number (a transferred ticket keeps the number of the
        service that issued it). Raises NotFound for an unknown ticket, UnknownService for a
        move into a service the catalog does not have. Returns the stored ticket."""
        ...

    async def waiting_for(self, service_codes: Collection[str], service_day: str) -> list[Ticket]:
        """WAITING tickets of those services on that day, oldest arrival first."""
        ...

    async def current_ticket(self, window_id: str) -> Ticket | None:
        """The ticket the window called or serves (the last called, if ever more than one)."""
        ...

    async def parked_at(self, window_id: str) -> list[Ticket]:
        """Tickets the window parked, oldest first."""
        ...

    async def clerk_day(self, actor: str, service_day: str) -> ClerkDay:
        """What ``actor`` (``clerk:<name>``) did to the tickets of ``service_day``."""
        ...

    async def recent_calls(self, window_id: str, limit: int) -> list[bool]:
        """Whether each of the window's last ``limit`` walk-in calls (waiting → called of a
        ticket without appointment) was green-channel, oldest first: the priority ratio's
        history (``domain.queue.choose_next``), derived from the transitions, so it survives
        restarts and is shared by every controller."""
        ...

    async def open_window(self, window_id: str, clerk: str, at_ms: int) -> WindowSession:
        """Open a session; the same clerk opening again gets the open one back. Raises
        Conflict when another clerk has the window open."""
        ...

    async def close_window(self, window_id: str, at_ms: int) -> WindowSession:
        """Close the open session. Raises Conflict when the window is not open."""
        ...

    async def window_session(self, window_id: str) -> WindowSession | None:
        """The open session of the window, if any."""
        ...
