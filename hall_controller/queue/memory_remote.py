"""``RemoteTicketStore`` in memory, over a ``MemoryTicketStore``'s tickets and transitions.

No ``await`` between reading and writing, so on one event loop a check-in is as atomic as the
database's guarded UPDATE. The constraints of 0007 hold as in the database: a remote part only
for a stored ticket, one check-in per kiosk request. Records handed out are copies.
"""

from __future__ import annotations

import copy
import dataclasses

from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import NotFound
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.model import Ticket, TicketState
from hall_controller.queue.ports import RemoteInfo
from hall_controller.queue.rules import ROLLOVER_STATES, Moved


class MemoryRemoteTickets:
    """The remote-ticket port kept next to a memory ticket store (they share the tickets)."""

    def __init__(self, tickets: MemoryTicketStore) -> None:
        self.tickets = tickets
        self.remote: dict[str, RemoteInfo] = {}
        # (device, request id) → ticket checked in by that request
        self.checkins: dict[tuple[str, str], str] = {}

    async def record_remote(self, info: RemoteInfo) -> None:
        self.tickets._check()
        if info.ticket_id not in self.tickets.tickets:  # REFERENCES tickets
            raise NotFound(f"unknown ticket {info.ticket_id}",
                           code=ErrorCode.TICKET_UNKNOWN, ticket=info.ticket_id)
        self.remote.setdefault(info.ticket_id, info)

    async def remote_info(self, ticket_id: str) -> RemoteInfo | None:
        self.tickets._check()
        return self.remote.get(ticket_id)

    async def awaiting_for(self, service_code: str, service_day: str, identity_type: str,
                           identity_value: str) -> list[Ticket]:
        self.tickets._check()
        found = [t for t in self.tickets.tickets.values()
                 if t.state is TicketState.AWAITING_CHECKIN and t.service_code == service_code
                 and t.service_day == service_day
                 and self.tickets.identities.get(t.ticket_id) == (identity_type, identity_value)]
        return [copy.deepcopy(t) for t in sorted(found, key=lambda t: (t.issued_ms, t.seq))]

    async def ticket_for_request(self, origin_device: str, request_id: str) -> Ticket | None:
        self.tickets._check()
        ticket_id = self.checkins.get((origin_device, request_id))
        if ticket_id is None:
            ticket_id = self.tickets._by_request.get((origin_device, request_id))
        return None if ticket_id is None else copy.deepcopy(self.tickets.tickets[ticket_id])

    async def check_in(self, moved: Moved, origin_device: str | None,
                       request_id: str | None) -> Ticket | None:
        self.tickets._check()
        stored = self.tickets.tickets.get(moved.ticket.ticket_id)
        if stored is None or stored.state is not TicketState.AWAITING_CHECKIN:
            return None
        request = None if origin_device is None or request_id is None else (origin_device,
                                                                            request_id)
        if request is not None and request in self.checkins:
            # PRIMARY KEY (origin_device, request_id): the request checked a ticket in already
            # (a redelivery that raced in); the database rolls the whole check-in back.
            return None
        # Only what check_in_remote_ticket's UPDATE sets.
        after = dataclasses.replace(stored, case_ids=list(stored.case_ids),
                                    state=moved.ticket.state, issued_ms=moved.ticket.issued_ms)
        self.tickets.write_ticket(after)
        if request is not None:
            self.checkins[request] = after.ticket_id
        self.tickets.transitions.append(dataclasses.replace(
            moved.transition, ticket_id=after.ticket_id, from_state=TicketState.AWAITING_CHECKIN,
            to_state=after.state, window_id=None))
        return copy.deepcopy(after)

    async def due_to_lapse(self, now_ms: int, default_window_ms: int,
                           limit: int) -> list[Ticket]:
        self.tickets._check()

        def deadline(t: Ticket) -> int:
            info = self.remote.get(t.ticket_id)
            return info.checkin_by_ms if info is not None else t.issued_ms + default_window_ms

        due = [t for t in self.tickets.tickets.values()
               if t.state is TicketState.AWAITING_CHECKIN and deadline(t) <= now_ms]
        return [copy.deepcopy(t) for t in sorted(due, key=deadline)[:limit]]

    async def open_before(self, service_day: str, limit: int) -> list[Ticket]:
        self.tickets._check()
        found = [t for t in self.tickets.tickets.values()
                 if t.service_day < service_day and t.state in ROLLOVER_STATES]
        return [copy.deepcopy(t) for t in sorted(found, key=lambda t: (t.service_day, t.seq))[:limit]]
