"""The memory statistics store computes the same figures as the SQL (same hand-worked day)."""

from __future__ import annotations

from collections.abc import Sequence

from hall_controller.queue import rules as queue
from hall_controller.queue.memory_moves import MemoryTicketMoves
from hall_controller.queue.memory_stats import MemoryStatsStore, percentile_cont
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.model import Ticket, TicketState
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
