"""Wait estimates: what a visitor is told when taking a ticket."""

from __future__ import annotations

import math

import pytest

from hall_controller.queue.model import Ticket, TicketState, WindowDef
from hall_controller.queue.wait_estimate import (
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


# -- exact figures a visitor is told, worked out by hand -----------------------------------------
# Every visit below takes exactly 300 s (or 900 s for "b"), so each estimate is plain arithmetic.

A_300 = times_of("a", [300.0] * 10)
W1 = WindowDef("w1", 1, {"a": 1})
W2 = WindowDef("w2", 2, {"a": 1})
SHARED = WindowDef("w9", 9, {"a": 1, "b": 1})


def test_one_window_naive_estimate_is_position_times_mean() -> None:
    assert naive_wait_s(2, 300, 1) == 600


def test_one_visitor_ahead_and_one_idle_window_wait_one_visit() -> None:
    # The idle window takes the visitor ahead now; ours is next when that visit ends.
    assert estimate_wait_s("a", 1, windows=[OpenWindow(W1)], times=A_300, now_ms=T0) == 300


def test_an_idle_and_a_busy_window_share_the_tickets_ahead() -> None:
    # 3 ahead: the idle window takes one now; then a window frees up every 150 s on average
    # (two windows, 300 s each): 150 s to the first free window, 300 s for the two after it.
    windows = [busy(W2, "a", since_s=0), OpenWindow(W1)]
    assert estimate_wait_s("a", 3, windows=windows, times=A_300, now_ms=T0) == pytest.approx(450)


def test_a_shared_window_gives_a_service_its_share_of_the_queue() -> None:
    times = A_300.record("b", 300.0)
    waiting = [waiting_ticket(n) for n in range(1, 5)] + [waiting_ticket(n, "b") for n in range(1, 13)]
    # a has 4 of the 16 waiting: a quarter of the calls, one every 1200 s; 1200 s until the
    # window frees up for a, then 4 × 1200 s for those ahead.
    assert estimate_wait_s("a", 4, windows=[busy(SHARED, "a")], waiting=waiting, times=times,
                           now_ms=T0) == pytest.approx(6000)
    # A lone visitor of a behind 12 of b: counts as one of 13, one call in 13 (3900 s).
    assert estimate_wait_s("a", 0, windows=[busy(SHARED, "a")], waiting=waiting[4:], times=times,
                           now_ms=T0) == pytest.approx(3900)
    # Nobody waits for b: the shared window is all a's.
    assert estimate_wait_s("a", 0, windows=[busy(SHARED, "a")], waiting=[], times=times,
                           now_ms=T0) == pytest.approx(300)


def test_each_service_counts_with_its_own_visit_time() -> None:
    times = A_300
    for _ in range(10):
        times = times.record("b", 900.0)
    assert (times.mean_s("a"), times.mean_s("b"), times.overall_mean_s()) == (300, 900, 600)
    # The shared window is busy with a b visit 600 s in: 300 s of it remain. Then its calls go
    # half to a (300 s), half to b (900 s): a cycle of 600 s, one a call per 1200 s.
    queued = {"a": 1, "b": 1}
    windows = [busy(SHARED, "b", since_s=600)]
    assert estimate_wait_s("a", 0, windows=windows, times=times, now_ms=T0,
                           queued=queued) == pytest.approx(600)
    assert estimate_wait_s("a", 1, windows=windows, times=times, now_ms=T0,
                           queued=queued) == pytest.approx(1800)
    # Three b waiting for each a: a quarter of the calls, a cycle of 0.25 × 300 + 0.75 × 900 s.
    assert estimate_wait_s("a", 1, windows=windows, times=times, now_ms=T0,
                           queued={"a": 1, "b": 3}) == pytest.approx(1200 + 3000)


def test_remaining_time_of_the_current_visitor() -> None:
    times = times_of("a", [300.0, 600.0]).record("b", 1200.0)
    assert times.remaining_s("a", 300) == 300  # only the 600 s visit lasts longer than 300 s
    assert times.remaining_s("a", 599.5) == pytest.approx(45)  # at least 10 % of a's 450 s mean
    assert times.remaining_s("a", 700) == pytest.approx(45)  # overdue: 10 % of a's mean
    # No visit of "c" yet: the hall's mean (700 s) counts down, to at least 10 % of it.
    assert times.remaining_s("c", 100) == pytest.approx(600)
    assert times.remaining_s("c", 650) == pytest.approx(70)
    assert RecentServiceTimes(default_s=240).remaining_s("c", 40) == pytest.approx(200)


def test_a_negative_visit_time_counts_as_zero() -> None:
    # A clock step backwards between call and completion.
    assert times_of("a", [-5.0, 10.0]).mean_s("a") == 5


def test_tickets_ahead_puts_appointments_in_booked_order() -> None:
    late_slot = waiting_ticket(1, appointment_ms=T0 + 40 * 60_000)   # took its ticket earlier
    me = waiting_ticket(2, appointment_ms=T0 + 30 * 60_000)
    assert tickets_ahead(me, [late_slot, me]) == 0
    assert tickets_ahead(late_slot, [late_slot, me]) == 1


def test_visits_that_took_no_time_give_an_estimate_not_a_crash() -> None:
    # Every recent visit of "a" was completed the moment it was called (0 s).
    instant = times_of("a", [0.0, 0.0])
    assert estimate_wait_s("a", 2, windows=[busy(W1, "a", since_s=5)], times=instant,
                           now_ms=T0) == math.inf
    assert estimate_wait_s("a", 2, windows=[OpenWindow(W1)], times=instant, now_ms=T0) == math.inf
