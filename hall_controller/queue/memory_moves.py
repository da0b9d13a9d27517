"""``TicketMoveStore`` in memory, over a ``MemoryTicketStore``'s tickets and transitions.

No ``await`` between reading a ticket's state and writing the move, so on one event loop a
move is as atomic as the database's conditional UPDATE: two windows calling at once, the
second gets MoveConflict. A move writes the columns the database's UPDATE writes
(queries/ticket_moves.sql), no others, through the ticket store's constraint checks; a
transition is stored as the database stores it (the moved ticket's id and new state).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Collection

from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.model import Ticket, TicketState
from hall_controller.queue.ports import ClerkDay, MoveConflict, WindowSession
from hall_controller.queue.rules import Moved

_ACTIVE = (TicketState.CALLED, TicketState.SERVING)
# The columns apply_ticket_move's UPDATE writes.
_MOVED_COLUMNS = ("state", "service_code", "issued_ms", "window_id", "called_ms", "serving_ms",
                  "completed_ms", "recalls", "outcome")


class MemoryTicketMoves:
    """The move port kept next to a memory ticket store (they share the tickets)."""

    def __init__(self, tickets: MemoryTicketStore) -> None:
        self.tickets = tickets
        self.sessions: list[WindowSession] = []

    async def apply_move(self, moved: Moved, expected_state: TicketState) -> Ticket:
        self.tickets._check()
        stored = self.tickets.tickets.get(moved.ticket.ticket_id)
        if stored is None:
            raise NotFound(f"unknown ticket {moved.ticket.ticket_id}",
                           code=ErrorCode.TICKET_UNKNOWN, ticket=moved.ticket.number)
        if stored.state is not expected_state:
            raise MoveConflict(f"ticket {stored.number} is {stored.state.value} now "
                               f"(already called by another window?)", ticket=stored.number,
                               state=stored.state.value)
        # Only what apply_ticket_move's UPDATE sets: the number, the cases linked meanwhile by
        # the cases engine and the rest of the row stay as stored.
        after = dataclasses.replace(
            stored, case_ids=list(stored.case_ids), **{
                name: getattr(moved.ticket, name) for name in _MOVED_COLUMNS})
        self.tickets.write_ticket(after)
        self.tickets.transitions.append(dataclasses.replace(
            moved.transition, ticket_id=after.ticket_id, to_state=after.state))
        return copy.deepcopy(after)

    async def waiting_for(self, service_codes: Collection[str], service_day: str) -> list[Ticket]:
        self.tickets._check()
        codes = set(service_codes)
        return sorted((copy.deepcopy(t) for t in self.tickets.tickets.values()
                       if t.state is TicketState.WAITING and t.service_code in codes
                       and t.service_day == service_day),
                      key=lambda t: (t.issued_ms, t.seq))

    async def current_ticket(self, window_id: str) -> Ticket | None:
        self.tickets._check()
        active = [t for t in self.tickets.tickets.values()
                  if t.window_id == window_id and t.state in _ACTIVE]
        if not active:
            return None
        return copy.deepcopy(max(active, key=lambda t: t.called_ms or 0))

    async def parked_at(self, window_id: str) -> list[Ticket]:
        self.tickets._check()
        return sorted((copy.deepcopy(t) for t in self.tickets.tickets.values()
                       if t.window_id == window_id and t.state is TicketState.PARKED),
                      key=lambda t: (t.called_ms or 0, t.seq))

    async def clerk_day(self, actor: str, service_day: str) -> ClerkDay:
        self.tickets._check()
        moves = [tr for tr in self.tickets.transitions if tr.actor == actor
                 and self.tickets.tickets[tr.ticket_id].service_day == service_day]
        service_s = 0.0
        for done in (tr for tr in moves if tr.to_state is TicketState.DONE):
            starts = [tr.at_ms for tr in self.tickets.transitions
                      if tr.ticket_id == done.ticket_id and tr.to_state is TicketState.SERVING
                      and tr.at_ms <= done.at_ms]
            if starts:
                service_s += (done.at_ms - max(starts)) / 1000
        return ClerkDay(
            called=len({tr.ticket_id for tr in moves if tr.to_state is TicketState.CALLED}),
            done=sum(tr.to_state is TicketState.DONE for tr in moves),
            no_show=sum(tr.to_state is TicketState.NO_SHOW for tr in moves),
            transferred=sum(tr.to_state is TicketState.WAITING and " -> " in (tr.detail or "")
                            for tr in moves),
            service_s_total=service_s)

    async def recent_calls(self, window_id: str, limit: int) -> list[bool]:
        self.tickets._check()
        calls = [self.tickets.tickets[tr.ticket_id] for tr in self.tickets.transitions
                 if tr.window_id == window_id and tr.from_state is TicketState.WAITING
                 and tr.to_state is TicketState.CALLED]
        history = [t.priority for t in calls if t.appointment_ms is None]
        return history[-limit:] if limit > 0 else []

    async def open_window(self, window_id: str, clerk: str, at_ms: int) -> WindowSession:
        self.tickets._check()
        current = await self.window_session(window_id)
        if current is not None:
            if current.clerk == clerk:
                return current
            raise Conflict(f"window {window_id} is open by {current.clerk}",
                           code=ErrorCode.WINDOW_OPEN_BY_OTHER, window=window_id,
                           clerk=current.clerk)
        session = WindowSession(window_id, clerk, at_ms)
        self.sessions.append(session)
        return session

    async def close_window(self, window_id: str, at_ms: int) -> WindowSession:
        self.tickets._check()
        for i, session in enumerate(self.sessions):
            if session.window_id == window_id and session.is_open:
                # CHECK (closed_at >= opened_at): the query closes at the later of the two.
                closed = WindowSession(window_id, session.clerk, session.opened_ms,
                                       max(session.opened_ms, at_ms))
                self.sessions[i] = closed
                return closed
        raise Conflict(f"window {window_id} is not open", code=ErrorCode.WINDOW_NOT_OPEN,
                       window=window_id)

    async def window_session(self, window_id: str) -> WindowSession | None:
        self.tickets._check()
        return next((s for s in self.sessions if s.window_id == window_id and s.is_open), None)
