"""Remote tickets (指尖办): take a ticket before arriving, check in at a kiosk, or lapse.

The online platform (API key) or a logged-in user takes a ticket for a person (and optionally
one of their open cases) through the API. Its number is allocated at once, by the same atomic
allocation as a kiosk's, but the ticket starts AWAITING_CHECKIN: it is not in the queue and no
window can call it while the visitor is not in the hall.

Check-in: the visitor shows the same identity (person id or campus card, as the request named
it) at a kiosk; ``ticket.take`` for that service then checks the remote ticket in instead of
issuing a new one (``TicketService.take`` asks ``check_in_at_kiosk``).

Place in the queue: a remote ticket holds a *number*, not a *place*. On check-in it queues
from the moment of check-in (its ``issued_ms`` becomes the check-in time), because otherwise
taking a ticket from home at 08:00 and walking in at 11:00 would jump everyone who queued in
person meanwhile. A ticket with an appointment keeps its time: appointments are served by
booked time anyway (``domain.queue.choose_next``). Until check-in, the position and estimate
shown are those the visitor would get by checking in now.

Lapse: a ticket not checked in by its deadline (the request's ``arrive_by_ms``, or taken +
``queue.remote_checkin_window_min``) is lapsed by the housekeeping job, which also runs the
daily rollover: tickets of earlier service days still open are closed (awaiting check-in →
lapsed, waiting/called/parked → cancelled, detail "rollover"). Rows are never deleted; every
close is a transition like any other. Both jobs are safe to run on every controller at once:
each move is guarded by the state it starts from, and a move another controller made first
is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from devices.contract import now_ms
from hall_controller.cases.ports import CaseLinks
from hall_controller.cases.rules import IdentityType, PersonIdentity
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.queue.model import Ticket, TicketSource, TicketState
from hall_controller.queue.ports import (
    IssuedTicket,
    MoveConflict,
    RemoteInfo,
    RemoteTicketStore,
    TicketMoveStore,
    TicketRequest,
    TicketStore,
    UnknownService,
)
from hall_controller.queue.rules import Moved, cancel, check_in, lapse
from hall_controller.queue.service_day import service_day_end_ms
from hall_controller.queue.tickets import TicketCaseRecorder, TicketService

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
ROLLOVER_DETAIL = "rollover"
LAPSE_DETAIL = "not checked in within its window"
BATCH = 500  # tickets per housekeeping query (a backlog is worked off in several)
REMOTE_IDENTITY_TYPES = frozenset({IdentityType.PERSON_ID.value, IdentityType.CAMPUS_CARD.value})


class InvalidRemoteRequest(ValueError):
    """The request cannot be served as asked (e.g. arrive_by outside today's service day)."""


@dataclass(frozen=True, slots=True)
class RemoteTicketView:
    """A remote ticket as the API shows it."""

    ticket: Ticket
    checkin_by_ms: int | None
    case_id: str | None
    waiting_ahead: int | None      # None once it is no longer waiting or awaiting check-in
    estimated_wait_s: int | None
    created: bool = True           # False: a repeated request answered with its ticket


class RemoteTicketService:
    """Takes remote tickets, checks them in at kiosks, lapses and rolls over."""

    def __init__(self, tickets: TicketService, store: TicketStore, moves: TicketMoveStore,
                 remote: RemoteTicketStore, *, cases: CaseLinks | None = None,
                 ticket_cases: TicketCaseRecorder | None = None,
                 clock: Callable[[], int] = now_ms) -> None:
        self._tickets = tickets
        self._store = store
        self._moves = moves
        self._remote = remote
        self._cases = cases
        self._ticket_cases = ticket_cases
        self._clock = clock
        self.settings = tickets.settings
        self._zone = ZoneInfo(self.settings.timezone)
        # Held while an earlier day is replayed through the services (the demo): its tickets
        # belong to a past service day, and the rollover would close them mid-replay.
        self._rollover_lock = asyncio.Lock()

    @property
    def checkin_window_ms(self) -> int:
        return self.settings.remote_checkin_window_min * 60_000

    # --- taking and reading ------------------------------------------------------------------

    async def take(self, service_code: str, identity: tuple[str, str], *, caller: str,
                   case_id: str | None = None, arrive_by_ms: int | None = None,
                   request_id: str | None = None) -> RemoteTicketView:
        """Issue a remote ticket for ``identity`` (``("person_id" | "campus_card", value)``).

        ``request_id``: the caller's idempotency key; the same key again answers with the
        ticket it made. Raises UnknownService, NotFound (case not open for the person and
        service), Conflict (the person already holds a remote ticket for the service today),
        DailyCapReached, InvalidRemoteRequest.
        """
        if identity[0] not in REMOTE_IDENTITY_TYPES:
            raise InvalidRemoteRequest("identity: expected person_id or campus_card")
        if service_code not in self.settings.service_codes:
            raise UnknownService(f"no service {service_code!r}",
                                 service=service_code)
        origin = f"api:{caller}"
        if request_id is not None:
            prior = await self._remote.ticket_for_request(origin, request_id)
            if prior is not None:
                return await self._view(prior, created=False)
        now = self._clock()
        day = self._tickets.service_day(now)
        day_end = service_day_end_ms(day, self._zone, self.settings.rollover_at)
        if arrive_by_ms is not None and not now < arrive_by_ms <= day_end:
            raise InvalidRemoteRequest(
                f"arrive_by_ms must be after now ({now}) and before today's service day ends "
                f"({day_end}): the rollover closes every ticket of the day")
        held = await self._remote.awaiting_for(service_code, day, *identity)
        if held:
            raise Conflict(f"this person already holds ticket {held[0].number} for "
                           f"{service_code}, awaiting check-in",
                           code=ErrorCode.TICKET_ALREADY_HELD, ticket=held[0].number, service=service_code)
        if case_id is not None:
            await self._require_open_case(case_id, identity, service_code)
        issued = await self._store.issue_ticket(TicketRequest(
            ticket_id=str(uuid.uuid4()), service_code=service_code, service_day=day,
            issued_ms=now, actor=f"remote:{caller}", source=TicketSource.REMOTE,
            person_id=identity[1] if identity[0] == IdentityType.PERSON_ID.value else None,
            identity_type=identity[0], identity_value=identity[1],
            origin_device=origin if request_id is not None else None, request_id=request_id))
        ticket = issued.ticket
        deadline = arrive_by_ms if arrive_by_ms is not None else now + self.checkin_window_ms
        # Recorded after the ticket: if this fails, the ticket still lapses after the default
        # window (the lapse query falls back to it), so nothing waits for ever.
        await self._remote.record_remote(RemoteInfo(ticket.ticket_id, deadline, case_id, caller))
        if case_id is not None and self._cases is not None:
            await self._cases.link_ticket(case_id, ticket.ticket_id, ticket.number)
            if self._ticket_cases is not None:
                await self._ticket_cases.add_ticket_cases(ticket.ticket_id, [case_id])
            ticket = dataclasses.replace(ticket, case_ids=[*ticket.case_ids, case_id])
        logger.info("remote ticket %s (%s) taken by %s, check in by %d", ticket.number,
                    service_code, caller, deadline, extra={"ticket_id": ticket.ticket_id})
        return await self._view(ticket, created=issued.created)

    async def _require_open_case(self, case_id: str, identity: tuple[str, str],
                                 service_code: str) -> None:
        # The platform may only take a ticket for a case of the same person and service that
        # still needs a visit; anything else would link a stranger's case to the visit.
        if self._cases is None:
            raise NotFound("online cases are not available on this controller")
        who = PersonIdentity(IdentityType(identity[0]), identity[1])
        open_ids = {c.case_id for c in await self._cases.open_cases_for(who, service_code)}
        if case_id not in open_ids:
            raise NotFound(f"no open case {case_id!r} of this person for {service_code}",
                           code=ErrorCode.CASE_UNKNOWN, case=case_id)

    async def status(self, ticket_id: str) -> RemoteTicketView:
        """A remote ticket's state, position and estimate. Raises NotFound (also for a ticket
        that was not taken remotely: this API shows only what it issued)."""
        ticket = await self._store.get_ticket(ticket_id)
        if ticket is None or ticket.source is not TicketSource.REMOTE:
            raise NotFound(f"no remote ticket {ticket_id}",
                           code=ErrorCode.TICKET_UNKNOWN, ticket=ticket_id)
        return await self._view(ticket, created=False)

    async def _view(self, ticket: Ticket, *, created: bool) -> RemoteTicketView:
        info = await self._remote.remote_info(ticket.ticket_id)
        ahead = await self._ahead(ticket)
        estimate = None
        if ahead is not None:
            estimate = await self._tickets.estimate_s(
                IssuedTicket(ticket, False, ahead, None, 0), self._clock())
        return RemoteTicketView(
            ticket, info.checkin_by_ms if info is not None
            else ticket.issued_ms + self.checkin_window_ms if ticket.state is TicketState.AWAITING_CHECKIN
            else None,
            info.case_id if info is not None else None, ahead, estimate, created)

    async def _ahead(self, ticket: Ticket) -> int | None:
        """Waiting tickets ahead: for one awaiting check-in, all that wait now (it would queue
        behind them); for a waiting one, those that arrived before it. A green-channel ticket
        counts only green-channel ones, as the kiosk's reply does."""
        if ticket.state not in (TicketState.WAITING, TicketState.AWAITING_CHECKIN):
            return None
        waiting = await self._moves.waiting_for([ticket.service_code], ticket.service_day)
        same_channel = [t for t in waiting if t.priority or not ticket.priority]
        if ticket.state is TicketState.AWAITING_CHECKIN:
            return len(same_channel)
        return sum(1 for t in same_channel
                   if (t.issued_ms, t.seq) < (ticket.issued_ms, ticket.seq))

    # --- check-in at a kiosk -----------------------------------------------------------------

    async def check_in_at_kiosk(self, service_code: str, identity: tuple[str, str],
                                device_id: str, request_id: str | None,
                                at_ms: int) -> IssuedTicket | None:
        """See ``services.tickets.KioskCheckIn``."""
        if request_id is not None:
            prior = await self._redelivered(device_id, request_id)
            if prior is not None:
                return prior
        day = self._tickets.service_day(at_ms)
        for held in await self._remote.awaiting_for(service_code, day, *identity):
            moved = check_in(held, actor=f"kiosk:{device_id}", now_ms=at_ms)
            detail = "arrived; keeps its appointment"
            if held.appointment_ms is None:
                # Holds a number, not a place: queues from check-in (module docstring).
                moved = Moved(dataclasses.replace(moved.ticket, issued_ms=at_ms),
                              moved.transition)
                detail = "arrived; queues from check-in"
            moved = Moved(moved.ticket, dataclasses.replace(moved.transition, detail=detail))
            stored = await self._remote.check_in(moved, device_id, request_id)
            if stored is not None:
                logger.info("remote ticket %s checked in at %s", stored.number, device_id,
                            extra={"device_id": device_id, "ticket_id": stored.ticket_id})
                return await self._issued(stored)
        if request_id is not None:
            # Checked in by this very request through another controller meanwhile.
            return await self._redelivered(device_id, request_id)
        return None

    async def _redelivered(self, device_id: str, request_id: str) -> IssuedTicket | None:
        prior = await self._remote.ticket_for_request(device_id, request_id)
        if prior is None or prior.source is not TicketSource.REMOTE:
            return None  # a kiosk ticket: the ordinary path answers with it
        return await self._issued(prior)

    async def _issued(self, ticket: Ticket) -> IssuedTicket:
        return IssuedTicket(ticket, False, await self._ahead(ticket) or 0, None, 0)

    # --- housekeeping ------------------------------------------------------------------------

    async def lapse_due(self) -> int:
        """Lapse the remote tickets past their check-in deadline; how many were lapsed."""
        lapsed = 0
        while True:
            now = self._clock()
            due = await self._remote.due_to_lapse(now, self.checkin_window_ms, BATCH)
            this_round = 0
            for ticket in due:
                this_round += await self._close(lapse(ticket, actor=SYSTEM_ACTOR, now_ms=now),
                                                ticket.state, LAPSE_DETAIL)
            lapsed += this_round
            if len(due) < BATCH or not this_round:  # no progress: leave it to the next round
                return lapsed

    @contextlib.asynccontextmanager
    async def rollover_held(self) -> AsyncIterator[None]:
        """No rollover while inside (one in progress finishes first): for replaying an
        earlier day's tickets through the services, which the rollover would close."""
        async with self._rollover_lock:
            yield

    async def rollover(self) -> int:
        """Close the tickets of earlier service days still open; how many were closed."""
        async with self._rollover_lock:
            return await self._rollover()

    async def _rollover(self) -> int:
        closed = 0
        while True:
            now = self._clock()
            today = self._tickets.service_day(now)
            stale = await self._remote.open_before(today, BATCH)
            this_round = 0
            for ticket in stale:
                moved = (lapse(ticket, actor=SYSTEM_ACTOR, now_ms=now)
                         if ticket.state is TicketState.AWAITING_CHECKIN
                         else cancel(ticket, actor=SYSTEM_ACTOR, now_ms=now))
                this_round += await self._close(moved, ticket.state, ROLLOVER_DETAIL)
            closed += this_round
            if len(stale) < BATCH or not this_round:  # no progress: leave it to the next round
                if closed:
                    logger.info("rollover to %s closed %d ticket(s) of earlier days", today, closed)
                return closed

    async def _close(self, moved: Moved, expected: TicketState, detail: str) -> int:
        moved = Moved(moved.ticket, dataclasses.replace(moved.transition, detail=detail))
        try:
            await self._moves.apply_move(moved, expected)
        except (MoveConflict, NotFound):
            return 0  # checked in, called or closed meanwhile (another controller): skip it
        return 1

    async def run(self) -> None:
        """The housekeeping job: lapse and rollover every ``housekeeping_interval_s``, until
        cancelled. A failed round is logged and retried next time."""
        while True:
            try:
                await self.lapse_due()
                await self.rollover()
            except Exception:
                logger.exception("remote-ticket housekeeping failed; will retry")
            await asyncio.sleep(self.settings.housekeeping_interval_s)
