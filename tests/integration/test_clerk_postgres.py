"""PostgresTicketMoves: the shared contract, and two controllers' windows calling at once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from hall_controller.adapters.postgres.ticket_moves import PostgresTicketMoves
from hall_controller.adapters.postgres.ticket_store import PostgresHallStore
from hall_controller.domain.queue_model import TicketState, WindowDef
from hall_controller.services.clerk import ClerkService, ClerkSettings
from tests.support.ticket_moves_contract import MoveStores, TicketMovesContract
from tests.support.ticket_store_contract import SERVICES, take


@pytest.fixture
async def move_stores(database_url: str) -> AsyncIterator[MoveStores]:
    async with PostgresHallStore.connect(database_url, min_size=1, max_size=8) as store:
        assert isinstance(store, PostgresHallStore)

        async def link_case(ticket_id: str, case_id: str) -> None:
            async with store.pool.connection() as conn:
                await conn.execute("UPDATE tickets SET case_ids = case_ids || %s::text "
                                   "WHERE ticket_id = %s", (case_id, ticket_id))

        yield MoveStores(store, PostgresTicketMoves(store.pool), link_case)


class TestPostgresTicketMoves(TicketMovesContract):
    pass


async def test_windows_of_two_controllers_calling_at_once_never_share_a_ticket(
        database_url: str) -> None:
    """Two pools (like two controller processes), four windows each, 80 tickets of one
    service: every window calls as fast as it can; each ticket is called exactly once."""
    windows = tuple(WindowDef(f"w{i}", i, {"student-id": 1}) for i in range(1, 9))
    settings = ClerkSettings(windows=windows, services=tuple(SERVICES))
    async with (PostgresHallStore.connect(database_url, max_size=8) as one,
                PostgresHallStore.connect(database_url, max_size=8) as two):
        assert isinstance(one, PostgresHallStore) and isinstance(two, PostgresHallStore)
        await one.sync_services(SERVICES)
        clerks = [ClerkService(store, PostgresTicketMoves(store.pool), settings)
                  for store in (one, two)]
        day = clerks[0].service_day(int(time.time() * 1000))
        for _ in range(80):
            await one.issue_ticket(take(day=day, device=None))
        called: list[str] = []

        async def window(clerk: ClerkService, window_id: str) -> None:
            await clerk.open_window(window_id, f"clerk-{window_id}")
            while (ticket := await clerk.call_next(window_id, f"clerk-{window_id}")) is not None:
                called.append(ticket.ticket_id)
                await clerk.no_show(window_id, f"clerk-{window_id}")

        await asyncio.gather(*(window(clerks[i % 2], w.window_id)
                               for i, w in enumerate(windows)))
        assert len(called) == 80 and len(set(called)) == 80
        async with one.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT ticket_id::text FROM ticket_transitions WHERE to_state = 'called'")
            per_ticket = Counter(r[0] for r in await cur.fetchall())
        assert set(per_ticket.values()) == {1}
        assert all(t.state is TicketState.NO_SHOW
                   for t in await one.list_tickets("student-id", day))
