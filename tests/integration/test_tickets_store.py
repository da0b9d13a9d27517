"""PostgresTicketStore: the shared contract, and allocation under real concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hall_controller.adapters.postgres.ticket_store import PostgresHallStore, PostgresTicketStore
from hall_controller.ports_tickets import DailyCapReached
from tests.support.ticket_store_contract import DAY, SERVICES, TicketStoreContract, take


@pytest.fixture
async def ticket_store(database_url: str) -> AsyncIterator[PostgresTicketStore]:
    async with PostgresHallStore.connect(database_url, min_size=1, max_size=4) as store:
        assert isinstance(store, PostgresHallStore)
        yield store


class TestPostgresTicketStore(TicketStoreContract):
    pass


async def test_two_pools_racing_hand_out_each_number_once(database_url: str) -> None:
    """Like two controller processes: separate pools, 300 tickets at once, every number once."""
    async with (PostgresHallStore.connect(database_url, max_size=8) as one,
                PostgresHallStore.connect(database_url, max_size=8) as two):
        assert isinstance(one, PostgresHallStore) and isinstance(two, PostgresHallStore)
        await one.sync_services(SERVICES)
        issued = await asyncio.gather(*(
            (one if i % 2 else two).issue_ticket(take(device=f"kiosk-{i % 20}")) for i in range(300)))
        assert sorted(i.ticket.seq for i in issued) == list(range(1, 301))
        stored = await one.list_tickets("student-id", DAY)
        assert [t.seq for t in stored] == list(range(1, 301))


async def test_the_same_request_racing_on_two_pools_makes_one_ticket(database_url: str) -> None:
    """A redelivery handled by the other controller while the first is still committing."""
    async with (PostgresHallStore.connect(database_url, max_size=4) as one,
                PostgresHallStore.connect(database_url, max_size=4) as two):
        assert isinstance(one, PostgresHallStore) and isinstance(two, PostgresHallStore)
        await one.sync_services(SERVICES)
        for round_ in range(20):
            results = await asyncio.gather(
                one.issue_ticket(take(request_id=f"dup-{round_}")),
                two.issue_ticket(take(request_id=f"dup-{round_}")))
            assert results[0].ticket.ticket_id == results[1].ticket.ticket_id
            assert sorted(r.created for r in results) == [False, True]
        # No number was burnt by the losing side: 20 tickets, numbered 1..20.
        assert [t.seq for t in await one.list_tickets("student-id", DAY)] == list(range(1, 21))


async def test_cap_holds_under_concurrency(database_url: str) -> None:
    async with PostgresHallStore.connect(database_url, max_size=8) as store:
        assert isinstance(store, PostgresHallStore)
        await store.sync_services(SERVICES)
        results = await asyncio.gather(*(store.issue_ticket(take("finance")) for _ in range(10)),
                                       return_exceptions=True)
        refused = [r for r in results if isinstance(r, DailyCapReached)]
        assert len(refused) == 8
        assert [t.number for t in await store.list_tickets("finance", DAY)] == ["D001", "D002"]
