"""Kiosk tickets: the ``ticket.take`` request (``req`` → ``res``; its wire form is
in docs/protocol.md, section ``ticket.take``).

Numbers come from the store, which allocates them atomically in the database per service and
service day, so any number of kiosks and controllers can take tickets at once. The service day
and the opening hours are those of the hall's configured time zone (Asia/Shanghai by default),
not the server's; a service day ends at the local rollover time (``queue.rollover_at``, 03:00
by default: ``queue/service_day.py``), not at midnight.

A visitor who took a ticket remotely (指尖办, ``queue/remote_tickets.py``) and shows the same
identity at a kiosk is checked in instead of getting a second ticket (``KioskCheckIn``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time as monotonic_time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from devices.contract import now_ms
from hall_controller.cases.ports import CaseLinks
from hall_controller.cases.rules import Case, IdentityType, PersonIdentity
from hall_controller.fleet.model import DeviceRecord
from hall_controller.fleet.requests import RequestError
from hall_controller.kernel.errors import Conflict, NotFound, StoreUnavailable
from hall_controller.queue.model import ServiceDef, Ticket, TicketSource, WindowDef
from hall_controller.queue.ports import (
    IDENTITY_TYPES,
    DailyCapReached,
    IssuedTicket,
    TicketRequest,
    TicketStore,
    UnknownService,
    WaitInputs,
    WaitInputsSource,
)
from hall_controller.queue.service_day import service_day_at
from hall_controller.queue.wait_estimate import (
    DEFAULT_KEEP,
    OpenWindow,
    RecentServiceTimes,
    estimate_wait_s,
)

logger = logging.getLogger(__name__)

MAX_IDENTITY_VALUE = 256
MAX_SERVICE_CODE = 64
# The estimate's inputs (recent service times, queue lengths, busy windows) are read at most
# this often: a burst of kiosks shares one read, and a second-old queue length changes the
# windows' shares, not the visitor's position (that comes with the ticket).
WAIT_INPUTS_TTL_S = 1.0


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """When kiosks may issue tickets, in the hall's local time."""

    opens: time
    closes: time
    weekdays: frozenset[int] = frozenset(range(1, 8))  # ISO: Monday 1 .. Sunday 7

    def is_open(self, local: datetime) -> bool:
        return local.isoweekday() in self.weekdays and self.opens <= local.time() < self.closes


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """The queue's configuration (``[queue]`` in config.toml)."""

    services: tuple[ServiceDef, ...] = ()
    timezone: str = "Asia/Shanghai"
    opening_hours: OpeningHours | None = None  # None: always open (the demo runs at night too)
    # Per-visitor window time the estimate assumes until the service has completed tickets.
    default_service_s: float = 300.0
    # The windows and the services each serves (``[[queue.windows]]``). Empty: not configured,
    # and the estimate assumes one window per service (``estimate_windows``).
    windows: tuple[WindowDef, ...] = ()
    # The local time a service day ends (numbers restart, the rollover closes what is open).
    # Same default as the config's ``queue.rollover_at``: a hall that stays open past
    # midnight keeps one service day until the small hours.
    rollover_at: time = time(3, 0)
    # A remote ticket lapses if not checked in this long after it was taken (unless the
    # request named its own arrive_by).
    remote_checkin_window_min: int = 60
    # How often the controller lapses overdue remote tickets and runs the rollover.
    housekeeping_interval_s: float = 30.0
    service_codes: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "service_codes", frozenset(s.code for s in self.services))

    @property
    def windows_assumed(self) -> bool:
        return not self.windows

    def estimate_windows(self) -> tuple[WindowDef, ...]:
        """The windows the wait estimate counts: the configured ones, or, without any, one
        window per service serving only it (the assumption ``windows_assumed`` reports)."""
        if self.windows:
            return self.windows
        return tuple(WindowDef(window_id=f"assumed-{s.code}", number=n, services={s.code: 1})
                     for n, s in enumerate(self.services, start=1))


class TicketCaseRecorder(Protocol):
    """Where the ticket itself records the cases linked to it (the clerk's window reads them
    from the ticket; the cases record the ticket too)."""

    async def add_ticket_cases(self, ticket_id: str, case_ids: Sequence[str]) -> None:
        """Append the ids not recorded yet, in order; repeating it changes nothing."""
        ...


class KioskCheckIn(Protocol):
    """Checks a remotely taken ticket in when its visitor shows up at a kiosk
    (``services.remote_tickets.RemoteTicketService`` implements it)."""

    async def check_in_at_kiosk(self, service_code: str, identity: tuple[str, str],
                                device_id: str, request_id: str | None,
                                at_ms: int) -> IssuedTicket | None:
        """The checked-in ticket (as ``IssuedTicket``, ``created=False``), or None when the
        visitor holds no remote ticket awaiting check-in for the service today."""
        ...


class VisitorLookup(Protocol):
    """Someone who knows people: whether a card or QR code read at a kiosk names anyone
    (the cases room by its applicants and case ids, the access room by its people's cards)."""

    async def knows_identity(self, identity_type: str, value: str) -> bool: ...


class TicketService:
    """Issues tickets; ``take`` is the ``ticket.take`` handler for the request router."""

    def __init__(self, store: TicketStore, settings: QueueSettings,
                 clock: Callable[[], int] = now_ms, *, cases: CaseLinks | None = None,
                 wait_inputs: WaitInputsSource | None = None,
                 ticket_cases: TicketCaseRecorder | None = None) -> None:
        """``cases``: the online cases to link an identified visitor's ticket to; without
        them every reply has ``cases: []``. ``wait_inputs``: recent service times, queue
        lengths and busy windows for the estimate; without it the estimate assumes the
        default service time and idle windows. ``ticket_cases``: where the ticket records
        the cases linked to it (``Ticket.case_ids``)."""
        self._store = store
        self._cases = cases
        self._ticket_cases = ticket_cases
        self._wait_source = wait_inputs
        self._inputs: tuple[str, float, asyncio.Future[WaitInputs]] | None = None
        if settings.windows_assumed:
            logger.info("queue.windows not configured: the wait estimate assumes one window "
                        "per service")
        self.settings = settings
        self._zone = ZoneInfo(settings.timezone)
        self._clock = clock
        # Set by the composition root when remote tickets are on (it needs this service for
        # the estimate, so it cannot be passed in here).
        self.checkin: KioskCheckIn | None = None
        # Who can tell whether a card or QR code names anyone (``take``'s
        # ``refuse_unknown_identity``); each feature that knows people adds itself.
        self.visitors: list[VisitorLookup] = []

    async def start(self) -> None:
        """Sync the services catalog in the database with the config (every controller does
        it at start; it is idempotent)."""
        await self._store.sync_services(list(self.settings.services))

    def local_time(self, at_ms: int) -> datetime:
        return datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(self._zone)

    def service_day(self, at_ms: int) -> str:
        """The service day tickets taken at ``at_ms`` belong to (numbers restart daily): the
        local date, the day before until the local rollover time."""
        return service_day_at(at_ms, self._zone, self.settings.rollover_at)

    async def take(self, device_id: str, device: DeviceRecord | None,
                   params: dict[str, Any], request_id: str | None = None, *,
                   refuse_unknown_identity: bool = False) -> dict[str, Any]:
        """``ticket.take``: params ``{"service": code, "identity"?: {"type", "value"},
        "priority"?: bool}`` → ``{"ticket", "ticket_id", "service", "waiting_ahead",
        "estimated_wait_s", "cases"}`` (+ ``"checked_in": true`` when the identity's remote
        ticket was checked in instead of a new one issued). Errors: invalid_params,
        unknown_service, hall_closed, daily_cap_reached, unavailable, unknown_identity.
        ``request_id``: the device's request id; a redelivery with the same one gets the same
        ticket. ``refuse_unknown_identity`` (the browser kiosk): an identity that none of
        ``visitors`` knows is refused (``unknown_identity``) rather than given a ticket that
        looks identified and is not; the kiosk then offers a ticket without it."""
        service_code, identity, priority = _parse_params(params)
        if service_code not in self.settings.service_codes:
            raise RequestError("unknown_service",
                               f"no service {service_code!r}; known: "
                               f"{', '.join(sorted(self.settings.service_codes))}")
        at = self._clock()
        hours = self.settings.opening_hours
        if hours is not None and not hours.is_open(self.local_time(at)):
            raise RequestError("hall_closed",
                               f"the hall issues tickets {hours.opens:%H:%M}-{hours.closes:%H:%M} "
                               f"({self.settings.timezone})")
        if identity is not None and self.checkin is not None:
            try:
                checked_in = await self.checkin.check_in_at_kiosk(
                    service_code, identity, device_id, request_id, at)
            except StoreUnavailable as exc:
                # Issuing a new ticket instead would hand the visitor a second number.
                raise RequestError("unavailable",
                                   "the ticket store is unavailable; try again") from exc
            if checked_in is not None:
                return await self._reply(checked_in, identity, device_id, at, checked_in=True)
        if identity is not None and refuse_unknown_identity:
            await self._check_known(identity)
        request = TicketRequest(
            ticket_id=str(uuid.uuid4()), service_code=service_code,
            service_day=self.service_day(at), issued_ms=at, actor=f"kiosk:{device_id}",
            source=TicketSource.KIOSK, priority=priority,
            # Only a person id names a person outright; a card number, QR code or face match
            # is kept as read, for the cases engine to resolve.
            person_id=identity[1] if identity is not None and identity[0] == "person_id" else None,
            identity_type=None if identity is None else identity[0],
            identity_value=None if identity is None else identity[1],
            origin_device=device_id, request_id=request_id)
        try:
            issued = await self._store.issue_ticket(request)
        except UnknownService as exc:  # configured here, but another controller's config won
            raise RequestError("unknown_service", str(exc)) from exc
        except DailyCapReached as exc:
            raise RequestError("daily_cap_reached", str(exc)) from exc
        except StoreUnavailable as exc:
            logger.warning("ticket.take from %s: %s", device_id, exc, extra={"device_id": device_id})
            raise RequestError("unavailable", "the ticket store is unavailable; try again") from exc
        ticket = issued.ticket
        if issued.created:
            logger.info("ticket %s (%s) issued to %s", ticket.number, ticket.service_code, device_id,
                        extra={"device_id": device_id, "ticket_id": ticket.ticket_id})
        return await self._reply(issued, identity, device_id, at, checked_in=False)

    async def _check_known(self, identity: tuple[str, str]) -> None:
        if not self.visitors:
            return  # nobody here knows people: nothing to tell an unknown card by
        try:
            for lookup in self.visitors:
                if await lookup.knows_identity(*identity):
                    return
        except StoreUnavailable as exc:
            raise RequestError("unavailable", "the people directory is unavailable; "
                                              "try again") from exc
        raise RequestError("unknown_identity",
                           f"no one is known by this {identity[0].replace('_', ' ')}")

    async def _reply(self, issued: IssuedTicket, identity: tuple[str, str] | None,
                     device_id: str, at: int, *, checked_in: bool) -> dict[str, Any]:
        ticket = issued.ticket
        linked = [] if identity is None else await self._link_cases(ticket, identity, device_id)
        reply: dict[str, Any] = {
            "ticket": ticket.number,
            "ticket_id": ticket.ticket_id,
            "service": ticket.service_code,
            "waiting_ahead": issued.waiting_ahead,
            "estimated_wait_s": await self.estimate_s(issued, at),
            "cases": [_case_summary(c) for c in linked],
        }
        if checked_in:
            reply["checked_in"] = True
        return reply

    async def _link_cases(self, ticket: Ticket, identity: tuple[str, str],
                          device_id: str) -> list[Case]:
        """Link the visitor's open cases for the ticket's service to the ticket.

        Runs on a redelivered request too (it answers with the ticket already issued): linking
        the same ticket again is a no-op, so nothing is linked twice, and a link the first
        attempt did not finish is made now. If the case store is unavailable the request fails
        with ``unavailable``; the kiosk's retry (same request id) gets the same ticket and
        links then, rather than the visitor being served without their case.
        """
        if self._cases is None:
            return []
        who = PersonIdentity(IdentityType(identity[0]), identity[1])
        try:
            open_cases = await self._cases.open_cases_for(who, ticket.service_code)
        except StoreUnavailable as exc:
            logger.warning("ticket.take from %s: cases unavailable: %s", device_id, exc,
                           extra={"device_id": device_id, "ticket_id": ticket.ticket_id})
            raise RequestError("unavailable",
                               "the online cases are unavailable; try again") from exc
        linked: list[Case] = []
        for case in open_cases:
            try:
                linked.append(await self._cases.link_ticket(case.case_id, ticket.ticket_id,
                                                            ticket.number))
            except StoreUnavailable as exc:
                raise RequestError("unavailable",
                                   "the online cases are unavailable; try again") from exc
            except (NotFound, Conflict) as exc:
                # One case that cannot be linked must not cost the visitor the ticket or the
                # other cases; the clerk can still find it by the visitor's identity.
                logger.warning("ticket %s: case %s not linked: %s", ticket.number, case.case_id,
                               exc, extra={"ticket_id": ticket.ticket_id,
                                           "case_id": case.case_id})
        if linked and self._ticket_cases is not None:
            try:
                await self._ticket_cases.add_ticket_cases(ticket.ticket_id,
                                                          [c.case_id for c in linked])
            except StoreUnavailable as exc:
                raise RequestError("unavailable",
                                   "the ticket store is unavailable; try again") from exc
        if linked:
            logger.info("ticket %s linked to %d case(s)", ticket.number, len(linked),
                        extra={"ticket_id": ticket.ticket_id,
                               "case_ids": [c.case_id for c in linked]})
        return linked

    async def estimate_s(self, issued: IssuedTicket, at_ms: int) -> int:
        """Seconds until the ticket is called: ``queue.wait_estimate.estimate_wait_s`` over the
        service's recent window times, the windows serving it (all configured windows count
        as open: which ones a clerk has opened is the clerk side's to tell) and what those
        windows are doing now."""
        ticket = issued.ticket
        inputs = await self._current_inputs(ticket.service_day)
        times = RecentServiceTimes(inputs.recent_service_s, keep=DEFAULT_KEEP,
                                   default_s=self.settings.default_service_s)
        windows = []
        for window in self.settings.estimate_windows():
            busy = inputs.busy.get(window.window_id)
            windows.append(OpenWindow(window, None if busy is None else busy.service_code,
                                      None if busy is None else busy.since_ms))
        queued = dict(inputs.waiting)
        # The new ticket and those ahead of it wait, whatever a second-old count says.
        queued[ticket.service_code] = max(queued.get(ticket.service_code, 0),
                                          issued.waiting_ahead + 1)
        wait = estimate_wait_s(ticket.service_code, issued.waiting_ahead, windows=windows,
                               times=times, now_ms=at_ms, queued=queued)
        if math.isinf(wait):
            # No configured window serves the service: still a number the kiosk can print,
            # as if one window served it (the config check is the clerk side's to add).
            wait = issued.waiting_ahead * times.mean_s(ticket.service_code)
        return round(wait)

    async def _current_inputs(self, service_day: str) -> WaitInputs:
        if self._wait_source is None:
            return WaitInputs()
        now = monotonic_time.monotonic()
        cached = self._inputs
        if (cached is None or cached[0] != service_day or now - cached[1] > WAIT_INPUTS_TTL_S
                or (cached[2].done()
                    and (cached[2].cancelled() or cached[2].exception() is not None))):
            # One read for every take that arrives while it runs (single flight); it belongs
            # to no single request, so a kiosk that gives up does not cancel it for the rest.
            future = asyncio.ensure_future(
                self._wait_source.wait_inputs(service_day, DEFAULT_KEEP))
            cached = self._inputs = (service_day, now, future)
        try:
            return await asyncio.shield(cached[2])
        except StoreUnavailable as exc:
            # The ticket is issued already: an estimate from defaults beats no answer.
            logger.warning("wait estimate without history: %s", exc)
            return WaitInputs()


def _case_summary(case: Case) -> dict[str, Any]:
    """What the kiosk prints about a linked case: which one, and what to bring."""
    return {
        "case_id": case.case_id,
        "service": case.service_code,
        "status": case.status.value,
        "materials": [{"code": m.code, "name": m.name, "received": m.received}
                      for m in case.materials],
    }


def _parse_params(params: dict[str, Any]) -> tuple[str, tuple[str, str] | None, bool]:
    service = params.get("service")
    if not isinstance(service, str) or not service or len(service) > MAX_SERVICE_CODE:
        raise RequestError("invalid_params", "params.service: expected a service code (string)")
    priority = params.get("priority", False)
    if not isinstance(priority, bool):
        raise RequestError("invalid_params", "params.priority: expected true or false")
    raw = params.get("identity")
    if raw is None:
        return service, None, priority
    if not isinstance(raw, dict) or set(raw) != {"type", "value"}:
        raise RequestError("invalid_params",
                           'params.identity: expected {"type": ..., "value": ...}')
    kind, value = raw["type"], raw["value"]
    if not isinstance(kind, str) or kind not in IDENTITY_TYPES:
        raise RequestError("invalid_params",
                           f"params.identity.type: expected one of {', '.join(sorted(IDENTITY_TYPES))}")
    if not isinstance(value, str) or not value or len(value) > MAX_IDENTITY_VALUE:
        raise RequestError("invalid_params",
                           f"params.identity.value: expected a string of 1-{MAX_IDENTITY_VALUE} characters")
    return service, (kind, value), priority
