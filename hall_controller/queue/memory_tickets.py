"""``TicketStore`` in memory: the fake the ticket service's unit tests run against.

Same observable behaviour as ``PostgresTicketStore`` (the contract tests in
``tests/support/ticket_store_contract.py`` run against both): consecutive numbers per service
and day from the service's first number, the cap and range enforced, a redelivered request
answered with the ticket it made. ``issue_ticket`` has no ``await`` between reading and
writing, so on one event loop it is as atomic as the database's transaction.

Every row is written through ``write_ticket``, which refuses what the schema refuses
(migrations 0004 and 0010), with nothing changed: a service not in the catalog (foreign key),
a second ticket with the same issuing service, day and sequence number, a second live ticket
of a day with the same printed number, a second ticket of one device request. A fake looser
than the database let a transfer bug through once (issue 10 item 2): keep them in step.

State is public so tests can look at it; ``available = False`` makes every call raise
StoreUnavailable. Records handed out are copies.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Sequence
from dataclasses import replace

from hall_controller.kernel.errors import HallError, StoreUnavailable
from hall_controller.queue.model import (
    FINAL_STATES,
    ServiceDef,
    Ticket,
    TicketState,
    TicketTransition,
)
from hall_controller.queue.ports import (
    DailyCapReached,
    InvalidService,
    IssuedTicket,
    NumberInUse,
    TicketRequest,
    UnknownService,
)
from hall_controller.queue.rules import initial_state, ticket_number

_RECENT_DONE = 20  # as many completed tickets as the database's queue_snapshot averages


class ConstraintViolation(HallError):
    """A write the database would refuse with an integrity error that the PostgreSQL store
    does not translate (no caller of the ports can cause it; a bug if it happens)."""

    def __init__(self, constraint: str, detail: str) -> None:
        self.constraint = constraint
        super().__init__(f"{constraint}: {detail}")


def check_service(service: ServiceDef) -> None:
    """The CHECK constraints of queue_services (0004)."""
    problems = [text for bad, text in (
        (service.first_number < 0, "first_number >= 0"),
        (service.last_number < service.first_number, "last_number >= first_number"),
        (service.daily_cap is not None and service.daily_cap < 1, "daily_cap >= 1"),
        (service.target_wait_s <= 0, "target_wait_s > 0"),
    ) if bad]
    if problems:
        raise InvalidService(f"the service catalog refuses {service.code!r}: "
                             f"{', '.join(problems)}")


class MemoryTicketStore:
    """The ticket port kept in dictionaries."""

    def __init__(self) -> None:
        self.available = True
        self.services: dict[str, ServiceDef] = {}
        self.inactive: set[str] = set()
        self.counters: dict[tuple[str, str], int] = {}     # (service, day) → last seq issued
        self.tickets: dict[str, Ticket] = {}
        self.identities: dict[str, tuple[str | None, str | None]] = {}
        self.numbered_by: dict[str, str] = {}  # ticket → the service whose counter numbered it
        self.transitions: list[TicketTransition] = []
        self._by_request: dict[tuple[str, str], str] = {}
        # The unique indexes: (numbered_by, day, seq) → ticket; (day, number) → tickets that
        # ever showed it (the live one among them is found by looking at their state).
        self._numbered: dict[tuple[str, str, int], str] = {}
        self._by_number: dict[tuple[str, str], set[str]] = {}

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("memory ticket store switched off")

    def write_ticket(self, ticket: Ticket, numbered_by: str | None = None) -> None:
        """Insert (``numbered_by`` given) or update (the stored row keeps its own) one row of
        tickets, after the checks the database makes; nothing changes when one fails."""
        ticket_id = ticket.ticket_id
        if numbered_by is None:
            numbered_by = self.numbered_by[ticket_id]
        elif ticket_id in self.tickets:
            raise ConstraintViolation("tickets_pkey", f"ticket {ticket_id} exists")
        for code in (ticket.service_code, numbered_by):
            if code not in self.services:  # inactive ones are still in the catalog
                raise UnknownService(f"no service {code!r} in the catalog; "
                                     f"ticket {ticket.number} is not stored",
                                     service=code)
        numbered = (numbered_by, ticket.service_day, ticket.seq)
        if self._numbered.get(numbered, ticket_id) != ticket_id:
            raise ConstraintViolation("tickets_numbered_once",
                                      f"{numbered} is the number of another ticket")
        if ticket.state not in FINAL_STATES:
            shown = next((t for i in self._by_number.get((ticket.service_day, ticket.number), ())
                          if i != ticket_id and (t := self.tickets[i]).state not in FINAL_STATES),
                         None)
            if shown is not None:
                raise NumberInUse(f"ticket {ticket.number} of {ticket.service_day} is live in "
                                  f"{shown.service_code} already; were prefixes changed today?",
                                  service=ticket.service_code)
        request = (ticket.origin_device, ticket.request_id)
        if request[0] is not None and request[1] is not None:
            if self._by_request.get((request[0], request[1]), ticket_id) != ticket_id:
                raise ConstraintViolation("tickets_origin_device_request_id_key",
                                          f"{request} made another ticket")
            self._by_request[(request[0], request[1])] = ticket_id
        self.tickets[ticket_id] = ticket
        self.numbered_by[ticket_id] = numbered_by
        self._numbered[numbered] = ticket_id
        self._by_number.setdefault((ticket.service_day, ticket.number), set()).add(ticket_id)

    async def sync_services(self, services: Sequence[ServiceDef]) -> None:
        self._check()
        for service in services:
            check_service(service)
        configured = {s.code for s in services}
        self.inactive |= set(self.services) - configured
        self.inactive -= configured
        self.services.update({s.code: s for s in services})

    async def issue_ticket(self, request: TicketRequest) -> IssuedTicket:
        self._check()
        key = (request.origin_device, request.request_id)
        if key[0] is not None and key[1] is not None:
            existing = self._by_request.get((key[0], key[1]))
            if existing is not None:
                return self._issued(self.tickets[existing], created=False)
        service = self.services.get(request.service_code)
        if service is None or service.code in self.inactive:
            raise UnknownService(f"no service {request.service_code!r}",
                                 service=request.service_code)
        first, last = service.first_number, service.last_number
        max_seq = last if service.daily_cap is None else min(last, first + service.daily_cap - 1)
        previous = self.counters.get((service.code, request.service_day))
        seq = first if previous is None else previous + 1
        if seq > max_seq:
            raise DailyCapReached(f"service {service.code!r} has issued all {max_seq - first + 1} "
                                  f"tickets of {request.service_day}",
                                  service=service.code)
        ticket = Ticket(
            ticket_id=request.ticket_id, service_code=service.code,
            number=ticket_number(service.prefix, seq, last), seq=seq,
            service_day=request.service_day, state=initial_state(request.source),
            issued_ms=request.issued_ms, source=request.source, priority=request.priority,
            person_id=request.person_id, origin_device=request.origin_device,
            request_id=request.request_id)
        self.write_ticket(ticket, numbered_by=service.code)  # refused: the counter stays
        self.counters[(service.code, request.service_day)] = seq
        self.identities[ticket.ticket_id] = (request.identity_type, request.identity_value)
        self.transitions.append(TicketTransition(ticket.ticket_id, None, ticket.state,
                                                 ticket.issued_ms, request.actor))
        return self._issued(ticket, created=True)

    def _issued(self, ticket: Ticket, *, created: bool) -> IssuedTicket:
        same_day = [t for t in self.tickets.values()
                    if t.service_code == ticket.service_code and t.service_day == ticket.service_day]
        ahead = sum(1 for t in same_day
                    if t.state is TicketState.WAITING
                    and (t.issued_ms, t.seq) < (ticket.issued_ms, ticket.seq)
                    and (t.priority or not ticket.priority))
        done = sorted((t for t in self.tickets.values()
                       if t.service_code == ticket.service_code and t.state is TicketState.DONE
                       and t.serving_ms is not None and t.completed_ms is not None),
                      key=lambda t: t.completed_ms or 0, reverse=True)[:_RECENT_DONE]
        recent = (statistics.fmean((t.completed_ms or 0) - (t.serving_ms or 0) for t in done) / 1000
                  if done else None)
        windows = len({t.window_id for t in same_day if t.window_id is not None})
        return IssuedTicket(ticket=copy.deepcopy(ticket), created=created, waiting_ahead=ahead,
                            recent_service_s=recent, serving_windows=windows)

    async def get_ticket(self, ticket_id: str) -> Ticket | None:
        self._check()
        ticket = self.tickets.get(ticket_id)
        return None if ticket is None else copy.deepcopy(ticket)

    async def list_tickets(self, service_code: str, service_day: str) -> list[Ticket]:
        self._check()
        return sorted((replace(t, case_ids=list(t.case_ids)) for t in self.tickets.values()
                       if t.service_code == service_code and t.service_day == service_day),
                      key=lambda t: (t.seq, t.number))

    async def person_tickets(self, person_id: str, service_day: str) -> list[Ticket]:
        self._check()
        return sorted((replace(t, case_ids=list(t.case_ids)) for t in self.tickets.values()
                       if t.person_id == person_id and t.service_day == service_day),
                      key=lambda t: (t.issued_ms, t.seq))

    async def ticket_transitions(self, ticket_id: str) -> list[TicketTransition]:
        self._check()
        return [t for t in self.transitions if t.ticket_id == ticket_id]
