"""The port of remote tickets (指尖办) and the queue's housekeeping (lapse, daily rollover).

A remote ticket is an ordinary ticket (same table, same atomic number allocation) issued with
``source=REMOTE``, which starts it in AWAITING_CHECKIN instead of WAITING. What only remote
tickets have (the check-in deadline and the case it was taken for) lives beside it, and the
queries here find the tickets the background jobs close. ``adapters/postgres/remote_tickets``
implements it over PostgreSQL, ``adapters/memory_remote_tickets`` in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hall_controller.domain.queue import Moved
from hall_controller.domain.queue_model import Ticket, TicketSource, TicketState

# Open tickets of an earlier service day are closed by the rollover. SERVING is not among
# them: a clerk is with the visitor, and the clerk's complete closes it.
ROLLOVER_STATES = frozenset({TicketState.WAITING, TicketState.CALLED, TicketState.PARKED,
                             TicketState.AWAITING_CHECKIN})


def initial_state(source: TicketSource) -> TicketState:
    """The state a newly issued ticket starts in: a remote one waits for its visitor's
    check-in before it queues (it must not be called while the visitor is still at home)."""
    return TicketState.AWAITING_CHECKIN if source is TicketSource.REMOTE else TicketState.WAITING


@dataclass(frozen=True, slots=True)
class RemoteInfo:
    """What a remote ticket has beyond the ticket itself."""

    ticket_id: str
    checkin_by_ms: int             # lapses if not checked in by then
    case_id: str | None
    created_by: str                # the API caller: "api_key:<id>" or "user:<name>"


@runtime_checkable
class RemoteTicketStore(Protocol):
    async def record_remote(self, info: RemoteInfo) -> None:
        """Store the remote part of an issued ticket; repeating it changes nothing. Raises
        NotFound when no such ticket is stored."""
        ...

    async def remote_info(self, ticket_id: str) -> RemoteInfo | None: ...

    async def awaiting_for(self, service_code: str, service_day: str, identity_type: str,
                           identity_value: str) -> list[Ticket]:
        """AWAITING_CHECKIN tickets of the service and day taken for this identity (as the
        remote request named it), oldest first."""
        ...

    async def ticket_for_request(self, origin_device: str, request_id: str) -> Ticket | None:
        """The ticket a device request made or checked in (a redelivered ``ticket.take``)."""
        ...

    async def check_in(self, moved: Moved, origin_device: str | None,
                       request_id: str | None) -> Ticket | None:
        """Store a check-in move (from AWAITING_CHECKIN) and remember the kiosk request that
        made it, in one transaction, so the request's redelivery finds this ticket instead of
        taking a new one. None: the ticket was no longer awaiting check-in (lapsed, or checked
        in by another kiosk or controller meanwhile)."""
        ...

    async def due_to_lapse(self, now_ms: int, default_window_ms: int,
                           limit: int) -> list[Ticket]:
        """AWAITING_CHECKIN tickets whose check-in deadline has passed (their recorded one,
        or issue time + ``default_window_ms`` when none was recorded)."""
        ...

    async def open_before(self, service_day: str, limit: int) -> list[Ticket]:
        """Tickets of service days before ``service_day`` still in a ``ROLLOVER_STATES``."""
        ...
