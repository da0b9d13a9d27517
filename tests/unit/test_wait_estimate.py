"""Wait estimates: what a visitor is told when taking a ticket."""

from __future__ import annotations

import math

import pytest

from hall_controller.domain.queue_model import Ticket, TicketState, WindowDef
from hall_controller.domain.wait_estimate import (
    OpenWindow,
    RecentServiceTimes,
    estimate_wait_s,
    naive_wait_s,
    tickets_ahead,
)

T0 = 1_795_827_600_000


def waiting_ticket(n: int, service: str = "a", *, priority: bool = False,
                   appointment_ms: int | None = None) -> Ticket:
    return Ticket(ticket_id=f"{service}{n}", service_code=service, number=f"{service.upper()}{n:03d}",
                  seq=n, service_day="2026-11-28", state=TicketState.WAITING, issued_ms=T0 + n * 1000,
                  priority=priority, appointment_ms=appointment_ms)


def times_of(service: str, samples: list[float]) -> RecentServiceTimes:
    times = RecentServiceTimes()
    for s in samples:
        times = times.record(service, s)
    return times


def busy(window: WindowDef, service: str, since_s: float = 0) -> OpenWindow:
    return OpenWindow(window, service, T0 - int(since_s * 1000))


def test_naive_is_position_times_mean_over_windows() -> None:
    assert naive_wait_s(6, 300, 3) == 600
    assert naive_wait_s(0, 300, 3) == 0
    assert naive_wait_s(2, 300, 0) == math.inf


def test_recent_times_keep_the_last_k_per_service() -> None:
    times = RecentServiceTimes(keep=3)
    for s in (1000, 100, 200, 300):
        times = times.record("a", s)
    assert times.mean_s("a") == 200          # the 1000 s outlier has rolled off
    assert times.mean_s("unknown") == 200    # no data for a service: the hall's mean
    assert RecentServiceTimes(default_s=240).mean_s("a") == 240


def test_an_idle_window_means_no_wait() -> None:
    w1 = WindowDef("w1", 1, {"a": 1})
    assert estimate_wait_s("a", 0, windows=[OpenWindow(w1)], waiting=[],
                           times=RecentServiceTimes(), now_ms=T0) == 0


def test_nobody_serves_the_service_means_no_finite_estimate() -> None:
    w1 = WindowDef("w1", 1, {"b": 1})
    assert estimate_wait_s("a", 0, windows=[OpenWindow(w1)], waiting=[],
                           times=RecentServiceTimes(), now_ms=T0) == math.inf


def test_one_service_c_busy_windows_memoryless_times_give_the_exact_m_m_c_wait() -> None:
    # Exponential-looking samples: the remaining time of a customer does not shrink as they stay.
    samples = [300 * -math.log(1 - (i + 0.5) / 400) for i in range(400)]
    times = times_of("a", samples)
    windows = [busy(WindowDef(f"w{i}", i, {"a": 1}), "a", since_s=60 * i) for i in range(1, 4)]
    waiting = [waiting_ticket(n) for n in range(1, 6)]
    mean = times.mean_s("a")
    estimate = estimate_wait_s("a", 5, windows=windows, waiting=waiting, times=times, now_ms=T0)
    # 5 ahead, 3 windows: 6 departures at rate 3/mean.
    assert estimate == pytest.approx(6 * mean / 3, rel=0.15)


def test_fixed_length_service_counts_down_the_current_customer() -> None:
    times = times_of("a", [600.0] * 20)  # every visit takes 10 min
    window = WindowDef("w1", 1, {"a": 1})
    just_started = estimate_wait_s("a", 0, windows=[busy(window, "a", since_s=0)], waiting=[],
                                   times=times, now_ms=T0)
    nearly_done = estimate_wait_s("a", 0, windows=[busy(window, "a", since_s=540)], waiting=[],
                                  times=times, now_ms=T0)
    assert just_started == pytest.approx(600)
    assert nearly_done == pytest.approx(60)


def test_a_window_shared_with_a_busy_service_counts_only_partly() -> None:
    times = times_of("a", [300.0] * 10).record("b", 300.0)
    dedicated = WindowDef("w1", 1, {"a": 1})
    shared = WindowDef("w2", 2, {"a": 1, "b": 1})
    own_queue = [waiting_ticket(n) for n in range(1, 5)]
    others = [waiting_ticket(n, "b") for n in range(1, 13)]  # b has 3x the queue of a

    alone = estimate_wait_s("a", 4, windows=[busy(dedicated, "a"), busy(shared, "a")],
                            waiting=own_queue, times=times, now_ms=T0)
    crowded = estimate_wait_s("a", 4, windows=[busy(dedicated, "a"), busy(shared, "a")],
                              waiting=own_queue + others, times=times, now_ms=T0)
    only_dedicated = estimate_wait_s("a", 4, windows=[busy(dedicated, "a")], waiting=own_queue,
                                     times=times, now_ms=T0)
    # With b's queue empty the shared window is all a's; with b crowding it, a gets about a quarter.
    assert alone < crowded < only_dedicated


def test_more_tickets_ahead_means_a_longer_estimate() -> None:
    times = times_of("a", [300.0] * 10)
    windows = [busy(WindowDef("w1", 1, {"a": 1}), "a", since_s=100)]
    estimates = [estimate_wait_s("a", n, windows=windows, waiting=[], times=times, now_ms=T0)
                 for n in range(5)]
    assert estimates == sorted(estimates) and estimates[0] < estimates[-1]


def test_tickets_ahead_counts_the_same_service_in_calling_order() -> None:
    waiting = [waiting_ticket(1), waiting_ticket(2, priority=True), waiting_ticket(3),
               waiting_ticket(4, "b"), waiting_ticket(5, appointment_ms=T0)]
    me = waiting_ticket(6)
    assert tickets_ahead(me, [*waiting, me]) == 4
    # A green-channel visitor only has the appointment and the earlier green-channel ticket ahead.
    green = waiting_ticket(7, priority=True)
    assert tickets_ahead(green, waiting) == 2
