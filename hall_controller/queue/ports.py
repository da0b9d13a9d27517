"""The queue's ports: issuing tickets, the clerk's moves and window sessions, remote tickets
(指尖办) and the queue's housekeeping, and the figures the wait estimate and statistics read.

``postgres_*.py`` implement them over PostgreSQL, ``memory_*.py`` in memory; the contract suites
in ``tests/support/`` (ticket store, ticket moves, remote tickets, stats) hold both to the same
behaviour. A remote ticket is an ordinary ticket (same table, same atomic number allocation)
issued with ``source=REMOTE``, which starts it in AWAITING_CHECKIN instead of WAITING; what only
remote tickets have (the check-in deadline, the case it was taken for) lives beside it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, HallError, NotFound
from hall_controller.queue.model import (
    ServiceDef,
    Ticket,
    TicketSource,
    TicketState,
    TicketTransition,
)
from hall_controller.queue.rules import Moved


class UnknownService(NotFound):
    """No active service with that code in the catalog."""

    default_code = ErrorCode.SERVICE_UNKNOWN


class DailyCapReached(Conflict):
    """The service has issued its daily cap, or its number range is used up, for that day."""

    default_code = ErrorCode.SERVICE_DAILY_CAP


class NumberInUse(Conflict):
    """The number the service would print next is shown by a live ticket of the day (another
    service had this prefix earlier that day). Nothing was stored; no two live tickets of a
    day show the same printed number."""

    default_code = ErrorCode.SERVICE_NUMBER_IN_USE


class InvalidService(HallError):
    """A catalog entry the store refuses (a negative first number, a range that ends before it
    starts, a cap or target wait below 1); the config validation normally catches these."""

    default_code = ErrorCode.INVALID


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


class MoveConflict(Conflict):
    """The ticket is no longer in the state the move started from: another window (or
    controller) moved it meanwhile. Re-read and decide again."""

    default_code = ErrorCode.TICKET_MOVED_MEANWHILE


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


@dataclass(frozen=True, slots=True)
class BusyWindow:
    """A window with a ticket called to it or being served there."""

    service_code: str
    since_ms: int          # when that ticket was called: the window is occupied from then


@dataclass(frozen=True, slots=True)
class WaitInputs:
    """What ``domain.wait_estimate.estimate_wait_s`` needs from the database, for one day."""

    # Window-occupancy times (called → done, seconds) of each service's last completed
    # tickets, oldest first. Empty until clerks complete tickets.
    recent_service_s: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    waiting: Mapping[str, int] = field(default_factory=dict)       # tickets waiting, by service
    busy: Mapping[str, BusyWindow] = field(default_factory=dict)   # by window id


class WaitInputsSource(Protocol):
    async def wait_inputs(self, service_day: str, keep: int) -> WaitInputs:
        """The day's waiting counts and busy windows, and up to ``keep`` recent occupancy
        times per service (from any day: the last completions are the best guess)."""
        ...


@dataclass(frozen=True, slots=True)
class ServiceDayStats:
    """One service's figures for one service day (times in seconds; None when undefined)."""

    service_code: str
    service_day: str
    target_wait_s: int
    tickets: int                    # issued that day
    called: int                     # called at least once
    served: int                     # completed (done)
    no_shows: int
    mean_wait_s: float | None       # issued → first call, over the called tickets
    p90_wait_s: float | None        # continuous (interpolated) 90th percentile
    mean_service_s: float | None    # start serving → done, over the completed tickets
    service_level: float | None     # share of the called tickets called within target_wait_s
    no_show_rate: float | None      # no-shows / called
    # The online cases (一网通办) in the hall: tickets linked to at least one case, and tickets
    # completed as "pending materials" (补正: the visitor must bring something and come again).
    linked: int = 0
    pending: int = 0


class StatsStore(Protocol):
    async def service_day_stats(self, service_day: str) -> list[ServiceDayStats]:
        """Per service with tickets that day (and every active service, with zeros), by code."""
        ...
