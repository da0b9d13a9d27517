"""PostgresTicketStore: the shared contract, allocation under real concurrency, and the
migration that made numbers belong to the service that issued them (0010)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from hall_controller.kernel.postgres import migrate
from hall_controller.kernel.postgres.migrate import apply_migrations, load_migrations
from hall_controller.queue.ports import DailyCapReached
from hall_controller.queue.postgres_tickets import PostgresTicketStore
from tests.support.hall_store import PostgresHallStore
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


async def test_tickets_transferred_before_0010_keep_the_number_of_the_service_that_issued_it(
        empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database in the field at 0009: A003 went to transcript (it could, transcript had
    issued only B001 and B002), A004 to transcript and on to dorm. 0010 finds their issuing
    service in their first transfer; from then on transcript can issue B003 and B004."""
    monkeypatch.setattr(migrate, "load_migrations",
                        lambda: [m for m in load_migrations() if m.version <= 9])
    await apply_migrations(empty_database_url)
    monkeypatch.undo()
    with psycopg.connect(empty_database_url) as conn:
        for code, prefix in (("student-id", "A"), ("transcript", "B"), ("dorm", "C")):
            conn.execute("INSERT INTO queue_services (code, name, prefix, first_number, "
                         "last_number, target_wait_s) VALUES (%s, %s, %s, 1, 999, 900)",
                         (code, code, prefix))
        conn.execute("INSERT INTO ticket_counters VALUES ('student-id', %(d)s, 4, 1), "
                     "('transcript', %(d)s, 2, 1)", {"d": DAY})
        tickets = [("transcript", 1, "B001", []), ("transcript", 2, "B002", []),
                   ("student-id", 1, "A001", []), ("student-id", 2, "A002", []),
                   ("transcript", 3, "A003", ["student-id -> transcript"]),
                   ("dorm", 4, "A004", ["student-id -> transcript", "transcript -> dorm"])]
        for service, seq, number, transfers in tickets:
            ticket_id = str(uuid.uuid4())
            conn.execute("INSERT INTO tickets (ticket_id, service_code, service_day, seq, number, "
                         "state, source, issued_at) VALUES (%s, %s, %s, %s, %s, 'waiting', "
                         "'kiosk', now())", (ticket_id, service, DAY, seq, number))
            conn.execute("INSERT INTO ticket_transitions (ticket_id, to_state, at, actor) "
                         "VALUES (%s, 'waiting', now(), 'kiosk:k1')", (ticket_id,))
            for detail in transfers:
                for from_state, to_state, move_detail in (("waiting", "called", None),
                                                          ("called", "waiting", detail)):
                    conn.execute("INSERT INTO ticket_transitions (ticket_id, from_state, "
                                 "to_state, at, actor, detail) VALUES (%s, %s, %s, now(), "
                                 "'clerk:a', %s)", (ticket_id, from_state, to_state, move_detail))

    # [0]: later migrations follow; this test is about 0010.
    assert (await apply_migrations(empty_database_url))[0] == "0010_ticket_numbers"

    with psycopg.connect(empty_database_url) as conn:
        numbered = dict(conn.execute("SELECT number, numbered_by FROM tickets").fetchall())
    assert numbered == {"B001": "transcript", "B002": "transcript", "A001": "student-id",
                        "A002": "student-id", "A003": "student-id", "A004": "student-id"}
    async with PostgresHallStore.connect(empty_database_url, max_size=2) as store:
        assert isinstance(store, PostgresHallStore)
        issued = [(await store.issue_ticket(take(service))).ticket.number
                  for service in ("transcript", "transcript", "student-id")]
        assert issued == ["B003", "B004", "A005"]
        assert sorted(t.number for t in await store.list_tickets("transcript", DAY)) == [
            "A003", "B001", "B002", "B003", "B004"]
