"""The earlier part of a hall day, replayed through the real services with a simulated clock.

A demo watched for a few minutes cannot show a day's figures in real time, and a clock that
runs faster than real time would make every recorded wait and service time shorter by the
same factor (a hall at 20x shows 4-minute services as 12 seconds). So the demo replays the day
from opening until now, at once, and then runs the hall live in real time. The replay is a
discrete-event simulation whose every step is a call of the same services the controller uses
— ``TicketService.take`` (as a kiosk's ``ticket.take``), ``ClerkService`` (call, start,
complete, recall, no-show, as a window terminal) and ``CaseService`` (the online platform's
case upserts and its event feed) — built over the same stores, with a clock that the replay
moves from event to event. Nothing is written to a table directly: tickets, transitions,
cases, visits and case events are what those services write, stamped with the replayed times.
The displays are not told about replayed calls (those calls are in the past).

Visitors off the street come as a Poisson process per service following the day's profile
(``VisitorPlan``); the online platform (``simulators.online_platform``) files cases, whose
applicants come some time later and identify at the kiosk; clerks serve with exponential
times, a share of the visitors never show up, a share of the services end in pending
materials — and an applicant sent home comes back later (a second visit). Seeded: the same
day over empty stores gives the same replay.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import random
import time as wall_time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hall_controller.cases.ports import CaseStore
from hall_controller.cases.service import CaseService
from hall_controller.fleet.requests import RequestError
from hall_controller.queue.clerk import ClerkService, ClerkSettings, TicketReader
from hall_controller.queue.model import Ticket
from hall_controller.queue.ports import TicketMoveStore, TicketStore
from hall_controller.queue.rules import Outcome, RecallLimitReached
from hall_controller.queue.tickets import QueueSettings, TicketCaseRecorder, TicketService
from simulators.clerks import MAX_RECALL_ATTEMPTS, MISSING_MATERIALS, ClerkPlan
from simulators.online_platform import (
    OnlineApplicant,
    OnlinePlatform,
    PlatformState,
    ServiceCaseDesk,
)
from simulators.visitors import VisitorPlan, visitor_params

logger = logging.getLogger(__name__)

REPLAY_KIOSKS = ("kiosk-01", "kiosk-02", "kiosk-03")   # the demo fleet's kiosks
# The services log every ticket, call and case at INFO; replayed, that is a few thousand lines
# in seconds about the past, which would bury the console (the replay logs one summary).
# Only records made inside the replay's own task are dropped, and only below WARNING.
_REPLAYING: ContextVar[bool] = ContextVar("hall_replaying", default=False)
QUIETED_LOGGERS = ("hall_controller.queue.tickets", "hall_controller.queue.clerk",
                   "hall_controller.queue.displays", "hall_controller.cases.service")


def _not_replayed(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or not _REPLAYING.get()


@contextlib.contextmanager
def _quiet_services() -> Iterator[None]:
    token = _REPLAYING.set(True)
    loggers = [logging.getLogger(name) for name in QUIETED_LOGGERS]
    for service_logger in loggers:
        service_logger.addFilter(_not_replayed)
    try:
        yield
    finally:
        for service_logger in loggers:
            service_logger.removeFilter(_not_replayed)
        _REPLAYING.reset(token)


class ReplayClock:
    """The replay's time (ms since the epoch): the services read it, the replay moves it."""

    def __init__(self, at_ms: int) -> None:
        self.now_ms = at_ms

    def __call__(self) -> int:
        return self.now_ms


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """Who comes and how the clerks work; rates per simulated hour (``speed`` is ignored)."""

    walk_ins: VisitorPlan          # visitors off the street, by service (with the day's profile)
    filings: VisitorPlan           # cases filed online, by service; their applicants come later
    clerks: ClerkPlan
    arrive_after_s: tuple[float, float] = (300.0, 3600.0)   # filed → at the kiosk
    return_after_s: tuple[float, float] = (900.0, 3600.0)   # sent home → back with the document
    kiosks: tuple[str, ...] = REPLAY_KIOSKS


@dataclass(slots=True)
class ReplayResult:
    """What the replay did; ``due`` are the applicants still on their way at its end."""

    service_day: str
    from_ms: int
    to_ms: int                     # the replayed time reached (past ``until`` when drained)
    tickets: int = 0
    refused: int = 0
    walk_ins: int = 0
    applicant_visits: int = 0      # applicants' visits (first and second)
    second_visits: int = 0
    called: int = 0
    completed: int = 0
    pending: int = 0
    no_shows: int = 0
    linked: int = 0                # tickets the kiosk linked to at least one case
    wall_s: float = 0.0
    due: list[tuple[int, OnlineApplicant]] = field(default_factory=list)


class _Kind(StrEnum):
    WALK_IN = "walk_in"
    FILE = "file"
    VISIT = "visit"
    START = "start"
    DONE = "done"
    RECALL = "recall"
    NO_SHOW = "no_show"


@dataclass(slots=True)
class _Window:
    window_id: str
    clerk: str
    services: frozenset[str]
    busy: bool = False
    ticket: Ticket | None = None
    recalls: int = 0


class HallReplay:
    """One replay over the services given (built with ``build_replay``)."""

    def __init__(self, clock: ReplayClock, tickets: TicketService, clerk: ClerkService,
                 platform: OnlinePlatform, *, plan: ReplayPlan, rng: random.Random) -> None:
        self.clock = clock
        self.tickets = tickets
        self.clerk = clerk
        self.platform = platform
        self.plan = plan
        self._rng = rng
        self._heap: list[tuple[int, int, _Kind, Any]] = []
        self._seq = itertools.count()
        self._windows = [_Window(w.window_id, f"sim-{w.window_id}", frozenset(w.services))
                         for w in clerk.windows()]
        self._returning: set[str] = set()   # case ids of applicants on a second (or later) trip

    def _at(self, at_ms: int, kind: _Kind, data: Any = None) -> None:
        heapq.heappush(self._heap, (at_ms, next(self._seq), kind, data))

    def _after_s(self, seconds: float, kind: _Kind, data: Any = None) -> None:
        self._at(self.clock.now_ms + round(seconds * 1000), kind, data)

    def _next_arrival(self, kind: _Kind, plan: VisitorPlan, service: str) -> None:
        """The next arrival of a non-homogeneous Poisson process (thinning, in replayed time)."""
        peak = plan.peak_rate_per_s(service) * plan.kiosks / plan.speed   # per simulated second
        if peak <= 0:
            return
        at = self.clock.now_ms
        while True:
            at += round(self._rng.expovariate(peak) * 1000)
            rate = plan.rate_per_s(service, at) * plan.kiosks / plan.speed
            if plan.profile is None or self._rng.random() * peak <= rate:
                self._at(at, kind, service)
                return

    async def run(self, from_ms: int, until_ms: int, *, drain: bool) -> ReplayResult:
        """Replay [from_ms, until_ms): the windows open at ``from_ms``; nobody arrives after
        ``until_ms``. ``drain``: the clerks serve the queue to its end (a day that is over);
        otherwise the replay stops at ``until_ms`` with the queue as it is then (the live
        hall carries on from there), and applicants due later are in ``result.due``."""
        with _quiet_services():
            return await self._run(from_ms, until_ms, drain=drain)

    async def _run(self, from_ms: int, until_ms: int, *, drain: bool) -> ReplayResult:
        started = wall_time.monotonic()
        self.clock.now_ms = from_ms
        result = ReplayResult(self.tickets.service_day(from_ms), from_ms, from_ms)
        await self.tickets.start()
        for window in self._windows:
            await self.clerk.open_window(window.window_id, window.clerk)
        for service in self.plan.walk_ins.rates_per_hour:
            self._next_arrival(_Kind.WALK_IN, self.plan.walk_ins, service)
        for service in self.plan.filings.rates_per_hour:
            self._next_arrival(_Kind.FILE, self.plan.filings, service)
        while self._heap:
            at, _, kind, data = heapq.heappop(self._heap)
            arrival = kind in (_Kind.WALK_IN, _Kind.FILE, _Kind.VISIT)
            if at >= until_ms and (arrival or not drain):
                if kind is _Kind.VISIT:
                    result.due.append((at, data))
                continue
            self.clock.now_ms = at
            await self._handle(kind, data, result)
        if drain:
            for window in self._windows:
                await self.clerk.close_window(window.window_id, window.clerk)
        else:
            self.clock.now_ms = max(self.clock.now_ms, until_ms)
        result.to_ms = self.clock.now_ms
        result.wall_s = wall_time.monotonic() - started
        return result

    async def _handle(self, kind: _Kind, data: Any, result: ReplayResult) -> None:
        match kind:
            case _Kind.WALK_IN:
                self._next_arrival(_Kind.WALK_IN, self.plan.walk_ins, data)
                result.walk_ins += 1
                await self._take(visitor_params(data, self.plan.walk_ins, self._rng), result)
            case _Kind.FILE:
                self._next_arrival(_Kind.FILE, self.plan.filings, data)
                applicant = await self.platform.file_case(data)
                self._after_s(self._rng.uniform(*self.plan.arrive_after_s), _Kind.VISIT,
                              applicant)
            case _Kind.VISIT:
                result.applicant_visits += 1
                if data.case_id in self._returning:
                    result.second_visits += 1
                await self._take(data.ticket_params(), result)
            case _Kind.START:
                await self._start(data)
            case _Kind.DONE:
                await self._complete(data, result)
            case _Kind.RECALL:
                await self._recall(data)
            case _Kind.NO_SHOW:
                await self.clerk.no_show(data.window_id, data.clerk)
                result.no_shows += 1
                await self._free(data, result)

    async def _take(self, params: dict[str, Any], result: ReplayResult) -> None:
        kiosk = self._rng.choice(self.plan.kiosks)
        try:
            reply = await self.tickets.take(kiosk, None, params, request_id=str(uuid.uuid4()))
        except RequestError as exc:   # the day's cap, the hall closed: the visitor leaves
            result.refused += 1
            logger.debug("replay: ticket.take refused: %s", exc)
            return
        result.tickets += 1
        if reply["cases"]:
            result.linked += 1
        # One new ticket: one idle window that serves its service calls (the others have
        # nobody to call, or they would not be idle).
        service = reply["service"]
        for window in self._windows:
            if not window.busy and service in window.services:
                await self._call(window, result)
                return

    async def _call(self, window: _Window, result: ReplayResult) -> None:
        ticket = await self.clerk.call_next(window.window_id, window.clerk)
        if ticket is None:
            return
        result.called += 1
        window.busy, window.ticket, window.recalls = True, ticket, 0
        clerks = self.plan.clerks
        if self._rng.random() < clerks.no_show_share:
            self._after_s(clerks.recall_after_s, _Kind.RECALL, window)
        else:
            self._after_s(self._rng.uniform(*clerks.walk_s), _Kind.START, window)

    async def _start(self, window: _Window) -> None:
        await self.clerk.start(window.window_id, window.clerk)
        self._after_s(self._rng.expovariate(1.0 / self.plan.clerks.service_mean_s), _Kind.DONE,
                      window)

    async def _complete(self, window: _Window, result: ReplayResult) -> None:
        pending = self._rng.random() < self.plan.clerks.pending_share
        if pending:
            await self.clerk.complete(window.window_id, window.clerk, Outcome.PENDING_MATERIALS,
                                      self._rng.choice(MISSING_MATERIALS))
            result.pending += 1
        else:
            await self.clerk.complete(window.window_id, window.clerk, Outcome.RESOLVED)
        result.completed += 1
        if pending and window.ticket is not None and window.ticket.case_ids:
            # The platform learns it from the hall's case feed, as a real one would.
            for applicant in await self.platform.sent_back():
                self._returning.add(applicant.case_id)
                self._after_s(self._rng.uniform(*self.plan.return_after_s), _Kind.VISIT,
                              applicant)
        await self._free(window, result)

    async def _recall(self, window: _Window) -> None:
        """Recall the visitor who is not coming, until the limit; then mark the no-show."""
        if window.recalls < MAX_RECALL_ATTEMPTS:
            try:
                await self.clerk.recall(window.window_id, window.clerk)
            except RecallLimitReached:
                pass
            else:
                window.recalls += 1
                self._after_s(self.plan.clerks.recall_after_s, _Kind.RECALL, window)
                return
        self._after_s(self.plan.clerks.recall_after_s, _Kind.NO_SHOW, window)

    async def _free(self, window: _Window, result: ReplayResult) -> None:
        window.busy, window.ticket = False, None
        await self._call(window, result)


def build_replay(*, tickets: TicketStore, reader: TicketReader, moves: TicketMoveStore,
                 cases: CaseStore, ticket_cases: TicketCaseRecorder | None,
                 queue: QueueSettings, clerk: ClerkSettings, plan: ReplayPlan, seed: str,
                 platform_state: PlatformState | None = None) -> HallReplay:
    """A replay over these stores: its own ``TicketService``, ``ClerkService`` and
    ``CaseService`` (all on the replay's clock; the clerk service tells no display), and the
    online platform on that case service. ``seed``: the same seed, the same replay."""
    clock = ReplayClock(0)
    case_service = CaseService(cases, clock=clock)
    ticket_service = TicketService(tickets, queue, clock, cases=case_service,
                                   ticket_cases=ticket_cases)
    clerk_service = ClerkService(reader, moves, clerk, cases=case_service, clock=clock)
    rng = random.Random(seed)  # simulated visitors, not secrets
    platform = OnlinePlatform(ServiceCaseDesk(case_service), rng,
                              priority_share=plan.filings.priority_share, state=platform_state)
    return HallReplay(clock, ticket_service, clerk_service, platform, plan=plan, rng=rng)


__all__ = ["REPLAY_KIOSKS", "HallReplay", "ReplayClock", "ReplayPlan", "ReplayResult",
           "build_replay"]
