"""A discrete-event simulation of the service hall's queue, driven by the real queue rules.

Visitors arrive as a Poisson process per service (a share of them green-channel), booked
appointments arrive when they like, clerks serve with random times (exponential by default, or
gamma with a chosen coefficient of variation), windows serve the services they have skills for.
Every move goes through ``hall_controller.queue.rules`` and "call next" through ``choose_next``,
so what the simulation shows is what the rules do.  Seeded and pure: no clock, no I/O, no
asyncio; the same setup and seed always give the same day.  Number ranges and daily caps are
not enforced here (that is the ticket store's job), so long runs can span many "days".

Used by the tests (M/M/c against Erlang C, the priority ratio, appointments, the wait estimate)
and usable by benchmarks and the demo to produce a realistic load.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from enum import IntEnum

from hall_controller.queue import rules as queue
from hall_controller.queue.model import (
    ServiceDef,
    Ticket,
    TicketSource,
    TicketState,
    TicketTransition,
    WindowDef,
)
from hall_controller.queue.rules import CallingPolicy, Outcome
from hall_controller.queue.wait_estimate import (
    OpenWindow,
    RecentServiceTimes,
    estimate_wait_s,
    naive_wait_s,
    tickets_ahead,
)

DEFAULT_START_MS = 1_795_827_600_000  # 2026-11-28 08:00 Asia/Shanghai
SERVICE_DAY = "2026-11-28"


@dataclass(frozen=True, slots=True)
class ServiceLoad:
    """Demand for one service: Poisson walk-ins and the time a clerk needs for one."""

    service: ServiceDef
    arrivals_per_hour: float
    mean_service_s: float
    priority_share: float = 0.0  # probability that a walk-in is green-channel


@dataclass(frozen=True, slots=True)
class Appointment:
    """A booked visit: the visitor takes the ticket at ``arrives_ms`` for the slot ``booked_ms``."""

    service_code: str
    booked_ms: int
    arrives_ms: int


@dataclass(frozen=True, slots=True)
class HallSetup:
    """What to simulate."""

    loads: tuple[ServiceLoad, ...]
    windows: tuple[WindowDef, ...]
    duration_s: float                  # walk-ins arrive for this long; then the queue drains
    seed: int = 1
    policy: CallingPolicy = field(default_factory=CallingPolicy)
    walk_s: float = 0.0                # from the call to the window (the window is blocked)
    service_cv: float = 1.0            # 1: exponential; otherwise gamma with this spread
    appointments: tuple[Appointment, ...] = ()
    estimate: bool = False             # compute both wait estimates for every walk-in
    start_ms: int = DEFAULT_START_MS


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A "call next" as the display would show it."""

    at_ms: int
    window_id: str
    ticket: Ticket  # as called


@dataclass(frozen=True, slots=True)
class Estimate:
    """Both estimates given to a walk-in when the ticket was issued."""

    naive_s: float
    better_s: float


@dataclass(slots=True)
class SimResult:
    """Everything that happened: final tickets, every transition, every call, the estimates."""

    tickets: dict[str, Ticket]
    transitions: list[TicketTransition]
    calls: list[CallRecord]
    estimates: dict[str, Estimate]

    def waits_s(self, *, after_ms: int = 0) -> dict[str, float]:
        """Real wait (issued → first call) of each called ticket issued at or after ``after_ms``."""
        return {t.ticket_id: (t.called_ms - t.issued_ms) / 1000
                for t in self.tickets.values()
                if t.called_ms is not None and t.issued_ms >= after_ms}


def erlang_c_wait_s(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean wait in queue of an M/M/c system (Erlang C), rates per second."""
    load = arrival_rate / service_rate  # offered load in erlangs
    if load >= servers:
        return math.inf
    rho = load / servers
    head = sum(load**k / math.factorial(k) for k in range(servers))
    tail = load**servers / (math.factorial(servers) * (1 - rho))
    p_wait = tail / (head + tail)
    return p_wait / (servers * service_rate - arrival_rate)


class _Kind(IntEnum):
    # Order matters at equal times: a window that frees up is seen before a new arrival.
    FINISH = 0
    ARRIVAL = 1
    APPOINTMENT = 2
    DUE = 3


@dataclass(slots=True)
class _WindowState:
    window: WindowDef
    ticket_id: str | None = None
    busy_since_ms: int | None = None
    recent_calls: list[bool] = field(default_factory=list)


class _Hall:
    def __init__(self, setup: HallSetup) -> None:
        self.setup = setup
        self.rng = random.Random(setup.seed)
        self.loads = {load.service.code: load for load in setup.loads}
        self.events: list[tuple[int, _Kind, int, str]] = []
        self.counter = 0
        self.next_seq = {code: load.service.first_number for code, load in self.loads.items()}
        self.waiting: dict[str, Ticket] = {}
        self.windows = [_WindowState(w) for w in sorted(setup.windows, key=lambda w: w.number)]
        self.times = RecentServiceTimes()
        self.result = SimResult({}, [], [], {})
        self.end_ms = setup.start_ms + int(setup.duration_s * 1000)

    def push(self, at_ms: int, kind: _Kind, key: str) -> None:
        self.counter += 1
        heapq.heappush(self.events, (at_ms, kind, self.counter, key))

    def store(self, moved: queue.Moved) -> Ticket:
        self.result.tickets[moved.ticket.ticket_id] = moved.ticket
        self.result.transitions.append(moved.transition)
        return moved.ticket

    def exp_ms(self, mean_s: float) -> int:
        return max(1, round(self.rng.expovariate(1 / mean_s) * 1000))

    def service_ms(self, mean_s: float) -> int:
        cv = self.setup.service_cv
        if cv == 1.0:
            return self.exp_ms(mean_s)
        shape = 1 / (cv * cv)
        return max(1, round(self.rng.gammavariate(shape, mean_s / shape) * 1000))

    def issue(self, service_code: str, now_ms: int, *, priority: bool,
              appointment_ms: int | None) -> Ticket:
        service = self.loads[service_code].service
        seq = self.next_seq[service_code]
        self.next_seq[service_code] = seq + 1
        ticket = Ticket(
            ticket_id=f"{service_code}-{seq}", service_code=service_code,
            number=f"{service.prefix}{seq:03d}", seq=seq, service_day=SERVICE_DAY,
            state=TicketState.WAITING, issued_ms=now_ms, source=TicketSource.KIOSK,
            priority=priority, appointment_ms=appointment_ms,
        )
        self.result.tickets[ticket.ticket_id] = ticket
        self.result.transitions.append(TicketTransition(
            ticket.ticket_id, None, TicketState.WAITING, now_ms, "kiosk:sim"))
        return ticket

    def estimate(self, ticket: Ticket, now_ms: int) -> Estimate:
        waiting = list(self.waiting.values())
        ahead = tickets_ahead(ticket, waiting)
        open_windows = [
            OpenWindow(w.window,
                       None if w.ticket_id is None else self.result.tickets[w.ticket_id].service_code,
                       w.busy_since_ms)
            for w in self.windows
        ]
        naive = naive_wait_s(ahead, self.times.overall_mean_s(), len(self.windows))
        better = estimate_wait_s(ticket.service_code, ahead, windows=open_windows,
                                 waiting=[*waiting, ticket], times=self.times, now_ms=now_ms)
        return Estimate(naive, better)

    def arrive(self, service_code: str, now_ms: int) -> None:
        load = self.loads[service_code]
        priority = self.rng.random() < load.priority_share
        ticket = self.issue(service_code, now_ms, priority=priority, appointment_ms=None)
        if self.setup.estimate:
            self.result.estimates[ticket.ticket_id] = self.estimate(ticket, now_ms)
        self.waiting[ticket.ticket_id] = ticket
        self.schedule_arrival(service_code, now_ms)

    def schedule_arrival(self, service_code: str, now_ms: int) -> None:
        rate = self.loads[service_code].arrivals_per_hour
        if rate <= 0:
            return
        at_ms = now_ms + self.exp_ms(3600 / rate)
        if at_ms < self.end_ms:
            self.push(at_ms, _Kind.ARRIVAL, service_code)

    def dispatch(self, now_ms: int) -> None:
        """Every idle clerk presses "call next"."""
        for w in self.windows:
            if w.ticket_id is not None or not self.waiting:
                continue
            chosen = queue.choose_next(w.window, list(self.waiting.values()), now_ms,
                                       self.setup.policy, w.recent_calls)
            if chosen is None:
                continue
            del self.waiting[chosen.ticket_id]
            w.recent_calls = queue.record_call(w.recent_calls, chosen, now_ms, self.setup.policy)
            called = self.store(queue.call(chosen, window_id=w.window.window_id,
                                           actor=f"clerk:{w.window.window_id}", now_ms=now_ms))
            self.result.calls.append(CallRecord(now_ms, w.window.window_id, called))
            w.ticket_id = called.ticket_id
            w.busy_since_ms = now_ms
            mean_s = self.loads[called.service_code].mean_service_s
            finish_ms = now_ms + round(self.setup.walk_s * 1000) + self.service_ms(mean_s)
            self.push(finish_ms, _Kind.FINISH, w.window.window_id)

    def finish(self, window_id: str, now_ms: int) -> None:
        w = next(x for x in self.windows if x.window.window_id == window_id)
        assert w.ticket_id is not None and w.busy_since_ms is not None
        ticket = self.result.tickets[w.ticket_id]
        actor = f"clerk:{window_id}"
        started_ms = min(now_ms, w.busy_since_ms + round(self.setup.walk_s * 1000))
        serving = self.store(queue.start(ticket, actor=actor, now_ms=started_ms))
        self.store(queue.complete(serving, outcome=Outcome.RESOLVED, actor=actor, now_ms=now_ms))
        self.times = self.times.record(ticket.service_code, (now_ms - w.busy_since_ms) / 1000)
        w.ticket_id = None
        w.busy_since_ms = None

    def run(self) -> SimResult:
        start = self.setup.start_ms
        for code in self.loads:
            self.schedule_arrival(code, start)
        for index, appointment in enumerate(self.setup.appointments):
            key = str(index)
            self.push(appointment.arrives_ms, _Kind.APPOINTMENT, key)
            self.push(max(start, appointment.booked_ms - self.setup.policy.appointment_early_ms),
                      _Kind.DUE, key)
        while self.events:
            now_ms, kind, _, key = heapq.heappop(self.events)
            if kind is _Kind.FINISH:
                self.finish(key, now_ms)
            elif kind is _Kind.ARRIVAL:
                self.arrive(key, now_ms)
            elif kind is _Kind.APPOINTMENT:
                appointment = self.setup.appointments[int(key)]
                ticket = self.issue(appointment.service_code, now_ms, priority=False,
                                    appointment_ms=appointment.booked_ms)
                self.waiting[ticket.ticket_id] = ticket
            # DUE only needs the dispatch below: an idle clerk now sees a due appointment.
            self.dispatch(now_ms)
        return self.result


def simulate(setup: HallSetup) -> SimResult:
    """Run the hall until every walk-in that arrived within ``duration_s`` has been served."""
    return _Hall(setup).run()
