"""The ticket store port (kept out of ``ports.py`` so the queue and cases work do not clash).

``adapters/postgres/ticket_store.py`` implements it over PostgreSQL, ``adapters/memory_tickets.py``
in memory; ``tests/support/ticket_store_contract.py`` holds both to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hall_controller.domain.queue_model import ServiceDef, Ticket, TicketSource, TicketTransition
from hall_controller.errors import Conflict, HallError, NotFound


class UnknownService(NotFound):
    """No active service with that code in the catalog."""


class DailyCapReached(Conflict):
    """The service has issued its daily cap, or its number range is used up, for that day."""


class NumberInUse(Conflict):
    """The number the service would print next is shown by a live ticket of the day (another
    service had this prefix earlier that day). Nothing was stored; no two live tickets of a
    day show the same printed number."""


class InvalidService(HallError):
    """A catalog entry the store refuses (a negative first number, a range that ends before it
    starts, a cap or target wait below 1); the config validation normally catches these."""


IDENTITY_TYPES = frozenset({"campus_card", "qr", "face", "person_id"})


@dataclass(frozen=True, slots=True)
class TicketRequest:
    """Everything needed to issue one ticket; the store adds the number."""

    ticket_id: str                 # a fresh UUID; ignored when the request was already served
    service_code: str
    service_day: str               # local service day, ISO date
    issued_ms: int
    actor: str                     # who issued it, for the first transition: "kiosk:kiosk-01"
    source: TicketSource = TicketSource.KIOSK
    priority: bool = False
    person_id: str | None = None
    identity_type: str | None = None   # one of IDENTITY_TYPES, as the kiosk read it
    identity_value: str | None = None
    origin_device: str | None = None   # with request_id: the idempotency key
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedTicket:
    """The ticket and what the reply to the kiosk needs, read in the same transaction."""

    ticket: Ticket
    created: bool                  # False: a redelivered request; this is the ticket it made
    waiting_ahead: int             # tickets of the same service and day still waiting before it
    recent_service_s: float | None  # mean service time of the service's last completed tickets
    serving_windows: int           # distinct windows that called or served the service that day


def ticket_number(prefix: str, seq: int, last_number: int) -> str:
    """"A" + 12 → "A012": zero-padded to the width of the range's last number (at least 3)."""
    return f"{prefix}{seq:0{max(3, len(str(last_number)))}d}"


@runtime_checkable
class TicketStore(Protocol):
    async def sync_services(self, services: Sequence[ServiceDef]) -> None:
        """Make the catalog match the config: upsert these, mark the others inactive. Raises
        InvalidService (and changes nothing) for an entry the catalog's checks refuse."""
        ...

    async def issue_ticket(self, request: TicketRequest) -> IssuedTicket:
        """Allocate the next number of the service and day and store the ticket (state
        WAITING) with its first transition, atomically: no two tickets ever share a number,
        and a number is used only by a committed ticket. The number belongs to this service
        for good: a ticket transferred elsewhere keeps it, and the service never issues it
        again that day.

        When (origin_device, request_id) already made a ticket, returns that one
        (``created=False``) and allocates nothing. Raises UnknownService, DailyCapReached,
        NumberInUse.
        """
        ...

    async def get_ticket(self, ticket_id: str) -> Ticket | None: ...

    async def list_tickets(self, service_code: str, service_day: str) -> list[Ticket]:
        """The tickets of that day now in the service's queue (those transferred in too), by
        sequence number, then number."""
        ...

    async def person_tickets(self, person_id: str, service_day: str) -> list[Ticket]:
        """The tickets taken for ``person_id`` that day, every service, oldest first."""
        ...

    async def ticket_transitions(self, ticket_id: str) -> list[TicketTransition]:
        """Oldest first."""
        ...
