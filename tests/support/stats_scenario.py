"""One day in the hall, with figures worked out by hand: the statistics stores (PostgreSQL and
memory) must both compute exactly these. Tickets come from a ticket store; their moves are the
pure moves of queue/rules.py, written by the caller's ``record``."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from hall_controller.queue import rules as queue
from hall_controller.queue.model import ServiceDef, Ticket
from hall_controller.queue.ports import BusyWindow, ServiceDayStats, TicketRequest, TicketStore, WaitInputs

DAY = "2026-11-27"
# 09:00 in Shanghai on DAY.
T0 = int(datetime(2026, 11, 27, 1, 0, tzinfo=UTC).timestamp() * 1000)
S = 1000  # ms per second
SERVICES = [ServiceDef("student-id", "学生证办理", "A", name_en="Student ID card"),  # 15 min
            ServiceDef("transcript", "成绩单与证明", "B"),
            ServiceDef("finance", "财务缴费", "D", target_wait_s=1200),
            ServiceDef("dorm", "宿舍事务", "C")]

Record = Callable[[queue.Moved], Awaitable[Ticket]]
# Records online cases on a ticket, as ticket.take does for an identified visitor.
Link = Callable[[str, Sequence[str]], Awaitable[None]]


async def issue(store: TicketStore, service: str, at_ms: int, day: str = DAY) -> Ticket:
    issued = await store.issue_ticket(TicketRequest(
        ticket_id=str(uuid.uuid4()), service_code=service, service_day=day, issued_ms=at_ms,
        actor="kiosk:kiosk-01"))
    return issued.ticket


async def served(record: Record, ticket: Ticket, window: str,
                 called_s: int, start_s: int, done_s: int,
                 outcome: queue.Outcome = queue.Outcome.RESOLVED) -> None:
    clerk = f"clerk:{window}"
    t = await record(queue.call(ticket, window_id=window, actor=clerk, now_ms=T0 + called_s * S))
    t = await record(queue.start(t, actor=clerk, now_ms=T0 + start_s * S))
    await record(queue.complete(t, outcome=outcome, actor=clerk, now_ms=T0 + done_s * S))


async def a_day_in_the_hall(store: TicketStore, record: Record, link: Link) -> None:
    await store.sync_services(SERVICES)
    # student-id, target 900 s:
    #   A001 waits 60 s, served 300 s; A002 waits 390 s, served 200 s;
    #   A003 waits 980 s (over target) and does not show; A004 still waits.
    #   A001 and A004 are linked to online cases; A002 is completed as pending materials.
    a1 = await issue(store, "student-id", T0)
    a2 = await issue(store, "student-id", T0 + 10 * S)
    a3 = await issue(store, "student-id", T0 + 20 * S)
    a4 = await issue(store, "student-id", T0 + 30 * S)
    await link(a1.ticket_id, ["case-1", "case-2"])
    await link(a4.ticket_id, ["case-3"])
    a1 = replace(a1, case_ids=["case-1", "case-2"])
    await served(record, a1, "w1", 60, 90, 390)
    await served(record, a2, "w1", 400, 420, 620, queue.Outcome.PENDING_MATERIALS)
    called = await record(queue.call(a3, window_id="w1", actor="clerk:w1", now_ms=T0 + 1000 * S))
    await record(queue.no_show(called, actor="clerk:w1", now_ms=T0 + 1200 * S))
    # finance, target 1200 s: D001 waits 1300 s (over), served 100 s.
    d1 = await issue(store, "finance", T0)
    await served(record, d1, "w3", 1300, 1310, 1410)
    # transcript: B001 waits 1450 s and is at window w2 now.
    b1 = await issue(store, "transcript", T0 + 50 * S)
    await record(queue.call(b1, window_id="w2", actor="clerk:w2", now_ms=T0 + 1500 * S))
    # Another day's ticket counts on its own day only.
    await issue(store, "student-id", T0 + 86_400 * S, day="2026-11-28")


def check_day_figures(figures: Sequence[ServiceDayStats]) -> None:
    stats = {s.service_code: s for s in figures}
    assert sorted(stats) == ["dorm", "finance", "student-id", "transcript"]

    a = stats["student-id"]
    assert (a.tickets, a.called, a.served, a.no_shows) == (4, 3, 2, 1)
    assert a.mean_wait_s == pytest.approx((60 + 390 + 980) / 3)
    # percentile_cont over 60, 390, 980: rank 0.9 × 2 = 1.8 → 390 + 0.8 × (980 − 390)
    assert a.p90_wait_s == pytest.approx(862.0)
    assert a.mean_service_s == pytest.approx(250.0)
    assert a.service_level == pytest.approx(2 / 3)
    assert a.no_show_rate == pytest.approx(1 / 3)
    assert a.target_wait_s == 900
    assert (a.linked, a.pending) == (2, 1)

    d = stats["finance"]
    assert (d.tickets, d.called, d.served, d.no_shows) == (1, 1, 1, 0)
    assert (d.mean_wait_s, d.p90_wait_s, d.mean_service_s) == (1300.0, 1300.0, 100.0)
    assert (d.service_level, d.no_show_rate, d.target_wait_s) == (0.0, 0.0, 1200)
    assert (d.linked, d.pending) == (0, 0)

    b = stats["transcript"]
    assert (b.tickets, b.called, b.served, b.mean_wait_s, b.mean_service_s) == (
        1, 1, 0, 1450.0, None)

    c = stats["dorm"]  # offered, nobody came
    assert (c.tickets, c.called, c.mean_wait_s, c.service_level, c.no_show_rate) == (
        0, 0, None, None, None)


def check_wait_inputs(inputs: WaitInputs, only_last: WaitInputs) -> None:
    """``inputs``: keep=50; ``only_last``: keep=1."""
    # Window occupancy is call → done: A001 390 − 60, A002 620 − 400; D001 1410 − 1300.
    assert inputs.recent_service_s == {"student-id": (330.0, 220.0), "finance": (110.0,)}
    assert inputs.waiting == {"student-id": 1}
    assert inputs.busy == {"w2": BusyWindow("transcript", T0 + 1500 * S)}
    assert only_last.recent_service_s["student-id"] == (220.0,)
