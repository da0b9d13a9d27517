"""The simulated hall, run on the real queue rules: what visitors would experience over many days."""

from __future__ import annotations

import random

import pytest

from hall_controller.queue.model import ServiceDef, TicketState, WindowDef
from hall_controller.queue.rules import CallingPolicy
from simulators.hall_queue_sim import (
    DEFAULT_START_MS,
    Appointment,
    HallSetup,
    ServiceLoad,
    SimResult,
    erlang_c_wait_s,
    simulate,
)

HOUR_MS = 3_600_000
MIN_MS = 60_000


def service(code: str, prefix: str) -> ServiceDef:
    # A simulation runs for many "days" at once, so the daily number range must not run out.
    return ServiceDef(code=code, name=code, prefix=prefix, last_number=10**9)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_erlang_c_formula_matches_known_values() -> None:
    # M/M/1: Wq = ρ / (μ − λ); M/M/2 at λ=1, μ=1: P(wait) = 1/3, Wq = 1/3.
    assert erlang_c_wait_s(0.5, 1.0, 1) == pytest.approx(1.0)
    assert erlang_c_wait_s(1.0, 1.0, 2) == pytest.approx(1 / 3)


def test_m_m_c_hall_mean_wait_is_within_15_percent_of_erlang_c() -> None:
    windows, mean_service_s, rho = 2, 300.0, 0.7
    arrival_rate = rho * windows / mean_service_s  # per second
    setup = HallSetup(
        loads=(ServiceLoad(service("id", "A"), arrival_rate * 3600, mean_service_s),),
        windows=tuple(WindowDef(f"w{i}", i, {"id": 1}) for i in range(1, windows + 1)),
        duration_s=1500 * 3600,
        seed=11,
    )
    result = simulate(setup)
    # Skip the first hours: the hall opens empty, which would flatter the average.
    waits = list(result.waits_s(after_ms=DEFAULT_START_MS + 5 * HOUR_MS).values())
    expected = erlang_c_wait_s(arrival_rate, 1 / mean_service_s, windows)
    simulated = mean(waits)
    print(f"\nM/M/{windows} rho={rho}: {len(waits)} visitors, simulated mean wait {simulated:.1f} s, "
          f"Erlang C {expected:.1f} s ({simulated / expected - 1:+.1%})")
    assert len(waits) > 20_000
    assert simulated == pytest.approx(expected, rel=0.15)


def _flood(policy: CallingPolicy) -> tuple[SimResult, int]:
    # Two windows serving 24 visitors an hour; 60 arrive, half of them green-channel, so both
    # queues grow all day and every call is a real choice between the two.
    setup = HallSetup(
        loads=(ServiceLoad(service("id", "A"), 60, 300, priority_share=0.5),),
        windows=(WindowDef("w1", 1, {"id": 1}), WindowDef("w2", 2, {"id": 1})),
        duration_s=20 * 3600,
        seed=5,
        policy=policy,
    )
    return simulate(setup), DEFAULT_START_MS + int(setup.duration_s * 1000)


@pytest.mark.parametrize(("priority_calls", "normal_calls"), [(2, 1), (1, 2), (3, 1)])
def test_priority_ratio_holds_and_normal_visitors_are_not_starved_by_a_flood(
    priority_calls: int, normal_calls: int,
) -> None:
    policy = CallingPolicy(priority_calls=priority_calls, normal_calls=normal_calls)
    result, flood_end_ms = _flood(policy)
    # From the first hour (both queues have formed) to the end of the arrivals.
    flooded = [c for c in result.calls if DEFAULT_START_MS + HOUR_MS <= c.at_ms < flood_end_ms]
    normal_share = mean([0.0 if c.ticket.priority else 1.0 for c in flooded])
    configured = normal_calls / (priority_calls + normal_calls)
    print(f"\n{priority_calls}:{normal_calls} during the flood: {len(flooded)} calls, "
          f"normal share {normal_share:.3f} (configured {configured:.3f})")
    assert normal_share == pytest.approx(configured, abs=0.02)

    # At every window, a normal visitor is called at least after every `priority_calls` green ones.
    for window_id in ("w1", "w2"):
        run = longest = 0
        for c in (c for c in flooded if c.window_id == window_id):
            run = run + 1 if c.ticket.priority else 0
            longest = max(longest, run)
        assert longest == priority_calls

    # Everybody is eventually served, green channel or not.
    assert all(t.state is TicketState.DONE for t in result.tickets.values())


def test_appointments_are_called_in_booked_order_and_close_to_their_slot() -> None:
    rng = random.Random(7)
    # A slot every 12 minutes over a day; visitors come 6 to 40 minutes early, in any order.
    booked = [DEFAULT_START_MS + HOUR_MS + k * 12 * MIN_MS for k in range(30)]
    appointments = tuple(Appointment("id", b, b - rng.randint(6, 40) * MIN_MS) for b in booked)
    assert sorted(appointments, key=lambda a: a.arrives_ms) != list(appointments)
    policy = CallingPolicy(appointment_early_ms=5 * MIN_MS)
    setup = HallSetup(
        loads=(ServiceLoad(service("id", "A"), 28, 300),),  # busy walk-in traffic: ρ ≈ 0.78
        windows=tuple(WindowDef(f"w{i}", i, {"id": 1}) for i in range(1, 4)),
        duration_s=9 * 3600,
        seed=3,
        policy=policy,
        walk_s=15,
        appointments=appointments,
    )
    result = simulate(setup)

    appointment_calls = [c for c in result.calls if c.ticket.appointment_ms is not None]
    assert [c.ticket.appointment_ms for c in appointment_calls] == booked
    lateness_s = [(c.at_ms - (c.ticket.appointment_ms or 0)) / 1000 for c in appointment_calls]
    walk_in_waits = [w for tid, w in result.waits_s().items()
                     if result.tickets[tid].appointment_ms is None]
    print(f"\nappointments: called {mean(lateness_s):+.0f} s after the slot on average "
          f"(worst {max(lateness_s):+.0f} s); walk-ins waited {mean(walk_in_waits):.0f} s")
    # Nobody is called before the early window, and the booked slot is kept to within minutes.
    assert min(lateness_s) >= -policy.appointment_early_ms / 1000
    assert max(lateness_s) < 10 * 60
    assert mean(lateness_s) < mean(walk_in_waits)


def test_better_wait_estimate_beats_the_naive_one_in_a_multi_service_hall() -> None:
    ident, dorm, cert = service("id", "A"), service("dorm", "B"), service("cert", "C")
    setup = HallSetup(
        loads=(
            ServiceLoad(ident, arrivals_per_hour=24, mean_service_s=240, priority_share=0.1),
            ServiceLoad(dorm, arrivals_per_hour=8, mean_service_s=420, priority_share=0.1),
            ServiceLoad(cert, arrivals_per_hour=20, mean_service_s=150, priority_share=0.1),
        ),
        # Skills routing: each window has a main service (weight 2) and maybe a second one.
        windows=(
            WindowDef("w1", 1, {"id": 1}),
            WindowDef("w2", 2, {"id": 2, "dorm": 1}),
            WindowDef("w3", 3, {"dorm": 2, "cert": 1}),
            WindowDef("w4", 4, {"cert": 2, "id": 1}),
        ),
        duration_s=120 * 3600,
        seed=1,
        walk_s=20,
        estimate=True,
    )
    result = simulate(setup)
    waits = result.waits_s(after_ms=DEFAULT_START_MS + 2 * HOUR_MS)
    estimated = [tid for tid in waits if tid in result.estimates]
    naive_mae = mean([abs(result.estimates[t].naive_s - waits[t]) for t in estimated])
    better_mae = mean([abs(result.estimates[t].better_s - waits[t]) for t in estimated])
    print(f"\nwait estimate over {len(estimated)} visitors (mean real wait "
          f"{mean([waits[t] for t in estimated]):.0f} s): naive MAE {naive_mae:.0f} s, "
          f"better MAE {better_mae:.0f} s")
    assert len(estimated) > 5000
    assert better_mae < naive_mae
