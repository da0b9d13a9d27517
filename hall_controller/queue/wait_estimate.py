"""Waiting-time estimates for a ticket: the naive formula and a better one.

Pure functions over data the caller passes in (recent completions, the open windows and what
they are doing, the waiting tickets).

*Naive*: ``tickets ahead × mean service time ÷ open windows`` — one mean for the whole hall and
every open window counted as fully available, whatever it serves.

*Better* (``estimate_wait_s``):

- service times per service, from the last K completions (``RecentServiceTimes``); a sample is
  the time a ticket occupied its window, called → done, because walking to the window blocks it
  too;
- each open window that serves the ticket's service counts only with its share: a window
  serving 3 services spends part of its time on the others.  The share of calls a window gives a
  service is ``weight × tickets waiting`` over the same sum for all its services (the calling
  policy prefers higher weights and longer queues); the window's rate for the service is that
  share over the mean time of one of its calls;
- what the windows' current customers still need: the expected remaining time of a customer who
  has already been at the window ``t`` seconds is the mean of ``x − t`` over the recent samples
  ``x > t`` (the empirical mean residual life), so it adapts to the actual spread of service
  times — fixed-length services count down, memoryless ones do not;
- then: idle windows take the first tickets ahead at once; the rest wait for the first window to
  free up (the busy windows as competing clocks with those remaining times) plus one call
  interval of the service's combined rate per further ticket ahead.  For one service and c
  windows with exponential service times this is the exact ``(n + 1) / (c μ)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hall_controller.queue.model import Ticket, TicketState, WindowDef

DEFAULT_KEEP = 50               # completions remembered per service
DEFAULT_MEAN_SERVICE_S = 300.0  # before any completion is known
MIN_REMAINING_FRACTION = 0.1    # an overdue customer still needs a little: 10% of the mean


@dataclass(frozen=True, slots=True)
class RecentServiceTimes:
    """The last ``keep`` window-occupancy times (seconds) per service; immutable, so it is pure."""

    samples: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    keep: int = DEFAULT_KEEP
    default_s: float = DEFAULT_MEAN_SERVICE_S

    def record(self, service_code: str, duration_s: float) -> RecentServiceTimes:
        """A copy with one more completion of ``service_code`` (the oldest beyond ``keep`` dropped)."""
        kept = (*self.samples.get(service_code, ()), max(0.0, duration_s))[-self.keep:]
        return RecentServiceTimes({**self.samples, service_code: kept}, self.keep, self.default_s)

    def mean_s(self, service_code: str) -> float:
        """The mean recent time of ``service_code``; the hall mean (or the default) if none yet."""
        own = self.samples.get(service_code)
        if own:
            return sum(own) / len(own)
        return self.overall_mean_s()

    def overall_mean_s(self) -> float:
        """The mean over all recent completions of all services (what the naive estimate uses)."""
        every = [x for xs in self.samples.values() for x in xs]
        return sum(every) / len(every) if every else self.default_s

    def remaining_s(self, service_code: str, elapsed_s: float) -> float:
        """Expected time still needed by a customer at the window for ``elapsed_s`` seconds."""
        mean = self.mean_s(service_code)
        longer = [x - elapsed_s for x in self.samples.get(service_code, ()) if x > elapsed_s]
        if longer:
            return max(sum(longer) / len(longer), MIN_REMAINING_FRACTION * mean)
        if self.samples.get(service_code):
            # Longer than every recent sample: it should end any moment.
            return MIN_REMAINING_FRACTION * mean
        return max(mean - elapsed_s, MIN_REMAINING_FRACTION * mean)


@dataclass(frozen=True, slots=True)
class OpenWindow:
    """An open window and its current customer (the ticket called to it or served, if any)."""

    window: WindowDef
    current_service: str | None = None  # None: idle
    busy_since_ms: int | None = None    # when the current ticket was called


def naive_wait_s(position: int, mean_service_s: float, open_windows: int) -> float:
    """``position × mean service time ÷ open windows`` (``position``: tickets ahead)."""
    if open_windows <= 0:
        return float("inf")
    return position * mean_service_s / open_windows


def tickets_ahead(ticket: Ticket, waiting: Sequence[Ticket]) -> int:
    """Waiting tickets of the same service that will be called before ``ticket``.

    Appointments and earlier arrivals go first; a green-channel ticket goes ahead of a normal one
    (the ratio only delays it a little).  Later arrivals are not counted: they are unknown yet.
    """
    def rank(t: Ticket) -> tuple[int, int, int, int]:
        return (0 if t.appointment_ms is not None else 1, t.appointment_ms or 0,
                0 if t.priority else 1, t.issued_ms)

    mine = rank(ticket)
    return sum(1 for t in waiting
               if t.ticket_id != ticket.ticket_id and t.state is TicketState.WAITING
               and t.service_code == ticket.service_code and (rank(t), t.seq) < (mine, ticket.seq))


def _waiting_by_service(waiting: Sequence[Ticket]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in waiting:
        if t.state is TicketState.WAITING:
            counts[t.service_code] = counts.get(t.service_code, 0) + 1
    return counts


def _call_share(window: WindowDef, service_code: str, queued: Mapping[str, int]) -> float:
    # Share of this window's next calls that go to service_code: weight × queue length, the
    # target's own service counting at least one ticket (the one being estimated).
    def demand(code: str) -> float:
        count = queued.get(code, 0)
        if code == service_code:
            count = max(count, 1)
        return window.services[code] * count

    total = sum(demand(code) for code in window.services)
    return demand(service_code) / total if total else 0.0


def estimate_wait_s(
    service_code: str,
    ahead: int,
    *,
    windows: Sequence[OpenWindow],
    waiting: Sequence[Ticket] = (),
    times: RecentServiceTimes,
    now_ms: int,
    queued: Mapping[str, int] | None = None,
) -> float:
    """Expected seconds until a ticket of ``service_code`` with ``ahead`` tickets before it is called.

    ``windows``: the open windows only; ``waiting``: the hall's waiting tickets (for the shares),
    or ``queued``: just their counts by service (what a database count gives, without loading
    every ticket). Infinite when no open window serves the service.
    """
    serving = [w for w in windows if service_code in w.window.services]
    if not serving:
        return float("inf")
    if queued is None:
        queued = _waiting_by_service(waiting)

    idle = sum(1 for w in serving if w.current_service is None)
    if ahead < idle:
        return 0.0

    rate = 0.0        # calls per second the open windows give this service
    free_rate = 0.0   # rate at which a busy window frees up and picks this service
    for w in serving:
        share = _call_share(w.window, service_code, queued)
        # Mean time of one call at this window, over the services its calls go to.
        cycle = sum(_call_share(w.window, code, queued) * times.mean_s(code)
                    for code in w.window.services)
        if cycle > 0:
            rate += share / cycle
        if w.current_service is not None:
            elapsed = max(0, now_ms - (w.busy_since_ms or now_ms)) / 1000
            remaining = times.remaining_s(w.current_service, elapsed)
            # Recent visits that all took 0 s leave nothing remaining: the window is free now.
            free_rate += share / remaining if remaining > 0 else float("inf")
        elif cycle > 0:
            # Idle now, but it takes one of the tickets ahead at once: a fresh customer.
            free_rate += share / cycle
    if rate <= 0 or free_rate <= 0:
        return float("inf")
    # The first free window takes the next ticket; `idle` of the tickets ahead go to idle windows.
    return 1 / free_rate + (ahead - idle) / rate
