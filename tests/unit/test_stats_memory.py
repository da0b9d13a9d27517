"""The memory statistics store computes the same figures as the SQL (same hand-worked day)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hall_controller.cases.memory_store import MemoryCaseStore
from hall_controller.cases.rules import Applicant, CaseInput, CaseStatus, CompletionOutcome
from hall_controller.cases.service import CaseService
from hall_controller.queue import rules as queue
from hall_controller.queue.memory_moves import MemoryTicketMoves
from hall_controller.queue.memory_stats import MemoryStatsStore, percentile_cont
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.model import Ticket, TicketState
from hall_controller.queue.stats import StatsService
from tests.support.stats_scenario import (
    DAY,
    a_day_in_the_hall,
    check_day_figures,
    check_wait_inputs,
)


async def test_memory_statistics_match_the_hand_computed_figures() -> None:
    tickets = MemoryTicketStore()
    moves = MemoryTicketMoves(tickets)

    async def record(moved: queue.Moved) -> Ticket:
        before = moved.transition.from_state
        assert before is not None
        return await moves.apply_move(moved, before)

    async def link(ticket_id: str, case_ids: Sequence[str]) -> None:
        tickets.tickets[ticket_id].case_ids.extend(case_ids)

    await a_day_in_the_hall(tickets, record, link)
    stats = MemoryStatsStore(tickets)
    check_day_figures(await stats.service_day_stats(DAY))
    check_wait_inputs(await stats.wait_inputs(DAY, keep=50), await stats.wait_inputs(DAY, keep=1))
    assert TicketState.NO_SHOW in {t.state for t in tickets.tickets.values()}


def test_percentile_cont_interpolates_like_postgresql() -> None:
    assert percentile_cont([], 0.9) is None
    assert percentile_cont([5.0], 0.9) == 5.0
    assert percentile_cont([980.0, 60.0, 390.0], 0.9) == 862.0
    assert percentile_cont([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


async def test_the_one_trip_rate_of_a_service_day_counts_cases_resolved_after_midnight() -> None:
    # The demo hall is open late: a case resolved at 00:40 local on 28 November belongs to
    # the service day of 27 November (it ends at 03:00), as the ticket served then does.
    zone = ZoneInfo("Asia/Shanghai")
    at = {"now": int(datetime(2026, 11, 27, 22, 0, tzinfo=zone).timestamp() * 1000)}
    cases = CaseService(MemoryCaseStore(), clock=lambda: at["now"])
    for case_id in ("late", "next-morning"):
        await cases.upsert(CaseInput(case_id, "dorm", CaseStatus.AWAITING_VISIT,
                                     Applicant(person_id=f"p-{case_id}")))
    at["now"] = int(datetime(2026, 11, 28, 0, 40, tzinfo=zone).timestamp() * 1000)
    await cases.complete_linked("late", "t-1", CompletionOutcome.RESOLVED)
    at["now"] = int(datetime(2026, 11, 28, 9, 0, tzinfo=zone).timestamp() * 1000)
    await cases.complete_linked("next-morning", "t-2", CompletionOutcome.RESOLVED)

    stats = StatsService(MemoryStatsStore(MemoryTicketStore()), "Asia/Shanghai", one_trip=cases)
    evening = await stats.day(date(2026, 11, 27))
    assert evening.one_trip is not None and evening.one_trip.resolved_with_visit == 1
    morning = await stats.day(date(2026, 11, 28))
    assert morning.one_trip is not None and morning.one_trip.resolved_with_visit == 1
    start = datetime.fromtimestamp(evening.from_ms / 1000, tz=zone)
    assert (start.day, start.hour) == (27, 3)


def test_today_is_the_halls_service_day_not_the_browsers_date() -> None:
    """18:30 UTC on 3 December is 02:30 on 4 December in Shanghai, past midnight but before
    the 03:00 rollover (service_day.DEFAULT_ROLLOVER): still the service day of the 3rd, while
    a browser in UTC says the 3rd and one in Shanghai the 4th; from 03:00 Shanghai (19:00 UTC)
    it is the 4th. A page asking without a day gets the hall's."""
    stats = StatsService(MemoryStatsStore(MemoryTicketStore()), "Asia/Shanghai")
    before_rollover = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)
    assert stats.today(int(before_rollover.timestamp() * 1000)) == date(2026, 12, 3)
    after_rollover = datetime(2026, 12, 3, 19, 15, tzinfo=UTC)
    assert stats.today(int(after_rollover.timestamp() * 1000)) == date(2026, 12, 4)
