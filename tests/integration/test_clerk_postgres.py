"""PostgresTicketMoves: the shared contract, and two controllers' windows calling at once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from hall_controller.fleet.model import Role
from hall_controller.queue.clerk import ClerkService, ClerkSettings
from hall_controller.queue.model import ServiceDef, TicketState, WindowDef
from hall_controller.queue.postgres_moves import PostgresTicketMoves
from hall_controller.queue.rules import Outcome
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.support.hall_store import PostgresHallStore
from tests.support.ticket_moves_contract import MoveStores, TicketMovesContract
from tests.support.ticket_store_contract import SERVICES, take
from tests.unit.api_support import FAST_HASHER


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


# Both services number from 1, as in the default config: A004 and B004 exist side by side.
NUMBERED_FROM_ONE = (ServiceDef("student-id", "学生证办理", "A"),
                     ServiceDef("transcript", "成绩单与证明", "B"),
                     ServiceDef("dorm", "宿舍事务", "C"))
ONE_SERVICE_WINDOWS = (WindowDef("w1", 1, {"student-id": 1}), WindowDef("w2", 2, {"transcript": 1}),
                       WindowDef("w3", 3, {"dorm": 1}))


async def test_a_ticket_transferred_to_a_service_that_issued_its_number_keeps_number_and_place(
        database_url: str) -> None:
    """Issue 10 item 2: A004 transferred to transcript while B004 exists was a 500
    (UniqueViolation on tickets (service_code, service_day, seq))."""
    settings = ClerkSettings(windows=ONE_SERVICE_WINDOWS, services=NUMBERED_FROM_ONE)
    async with PostgresHallStore.connect(database_url, max_size=4) as store:
        assert isinstance(store, PostgresHallStore)
        await store.sync_services(NUMBERED_FROM_ONE)
        clerk = ClerkService(store, PostgresTicketMoves(store.pool), settings)
        t0 = int(time.time() * 1000) - 600_000
        day = clerk.service_day(t0)
        for i in range(4):  # A001 B001 A002 B002 ... A004 B004, in that order of arrival
            for service in ("student-id", "transcript"):
                await store.issue_ticket(take(service, day=day, device=None,
                                              at_ms=t0 + 2 * i + (service == "transcript")))
        await clerk.open_window("w1", "alice")
        a_numbers = []
        for keep_arrival in (True, True, True, False):
            called = await clerk.call_next("w1", "alice")
            assert called is not None
            moved = await clerk.transfer("w1", "alice", "transcript", keep_arrival=keep_arrival)
            a_numbers.append(moved.number)
            assert (moved.number, moved.service_code, moved.state) == (
                called.number, "transcript", TicketState.WAITING)
            assert moved.issued_ms == (called.issued_ms if keep_arrival else moved.issued_ms)
        assert a_numbers == ["A001", "A002", "A003", "A004"]
        # The transcript queue: the first three kept their arrival, A004 went to the back.
        waiting = (await clerk.status("w2")).waiting
        assert [t.number for t in waiting] == [
            "A001", "B001", "A002", "B002", "A003", "B003", "B004", "A004"]
        stored = await store.list_tickets("transcript", day)
        assert len({t.number for t in stored}) == len(stored) == 8
        # The transcript window serves them in that order, under their printed numbers.
        await clerk.open_window("w2", "bob")
        served = []
        while (ticket := await clerk.call_next("w2", "bob")) is not None:
            served.append(ticket.number)
            await clerk.start("w2", "bob")
            await clerk.complete("w2", "bob", Outcome.RESOLVED)
        assert served == [t.number for t in waiting]
        # Numbers go on from where each service's counter was: nothing was renumbered.
        assert (await store.issue_ticket(take("transcript", day=day, device=None))).ticket.number \
            == "B005"
        assert (await store.issue_ticket(take("student-id", day=day, device=None))).ticket.number \
            == "A005"


async def test_windows_transferring_at_once_into_services_with_the_same_numbers(
        database_url: str) -> None:
    """Two controllers' windows transfer tickets with the same sequence number at the same
    moment: A00n to transcript and B00n to student-id (a swap), C00n to transcript too. They
    go to the back of their new queue, so each window next calls its own service's next."""
    settings = ClerkSettings(windows=ONE_SERVICE_WINDOWS, services=NUMBERED_FROM_ONE)
    async with (PostgresHallStore.connect(database_url, max_size=4) as one,
                PostgresHallStore.connect(database_url, max_size=4) as two):
        assert isinstance(one, PostgresHallStore) and isinstance(two, PostgresHallStore)
        await one.sync_services(NUMBERED_FROM_ONE)
        clerks = {store: ClerkService(store, PostgresTicketMoves(store.pool), settings)
                  for store in (one, two)}
        by_window = {"w1": clerks[one], "w2": clerks[two], "w3": clerks[one]}
        to_service = {"w1": "transcript", "w2": "student-id", "w3": "transcript"}
        t0 = int(time.time() * 1000) - 600_000
        day = clerks[one].service_day(t0)
        rounds = 10
        for service in ("student-id", "transcript", "dorm"):
            for i in range(rounds):
                await one.issue_ticket(take(service, day=day, device=None, at_ms=t0 + i))
        for window_id, clerk in by_window.items():
            await clerk.open_window(window_id, f"clerk-{window_id}")

        async def call_and_transfer(window_id: str) -> str:
            clerk = by_window[window_id]
            called = await clerk.call_next(window_id, f"clerk-{window_id}")
            assert called is not None
            moved = await clerk.transfer(window_id, f"clerk-{window_id}", to_service[window_id],
                                         keep_arrival=False)
            assert moved.number == called.number
            return moved.number

        for n in range(1, rounds + 1):
            moved = await asyncio.gather(*(call_and_transfer(w) for w in by_window))
            assert moved == [f"A{n:03d}", f"B{n:03d}", f"C{n:03d}"]

        transcript = await one.list_tickets("transcript", day)
        student_id = await one.list_tickets("student-id", day)
        assert sorted(t.number for t in transcript) == sorted(
            [f"A{n:03d}" for n in range(1, rounds + 1)] + [f"C{n:03d}" for n in range(1, rounds + 1)])
        assert sorted(t.number for t in student_id) == [f"B{n:03d}" for n in range(1, rounds + 1)]
        live = [t for t in (*transcript, *student_id) if t.state is TicketState.WAITING]
        assert len(live) == 3 * rounds and len({t.number for t in live}) == 3 * rounds


async def test_the_transfer_route_moves_a4_to_transcript_while_b4_exists(
        hall_store: PostgresHallStore) -> None:
    """What the window terminal saw: POST /windows/w1/transfer answered 500."""
    await hall_store.sync_services(NUMBERED_FROM_ONE)
    clerk = ClerkService(hall_store, PostgresTicketMoves(hall_store.pool),
                         ClerkSettings(windows=ONE_SERVICE_WINDOWS, services=NUMBERED_FROM_ONE))
    t0 = int(time.time() * 1000) - 600_000
    day = clerk.service_day(t0)
    for i in range(4):
        await hall_store.issue_ticket(take("transcript", day=day, device=None, at_ms=t0 + i))
    a4 = None
    for i in range(4):
        a4 = (await hall_store.issue_ticket(take(day=day, device=None, at_ms=t0 + 10 + i))).ticket
    assert a4 is not None and a4.number == "A004"
    app = api_app(hall_store, clerk)
    await ensure_user(hall_store, "cleo", "clerk-pass-1", Role.CLERK, hasher=FAST_HASHER)
    await ensure_user(hall_store, "ada", "admin-pass-1", Role.ADMIN, hasher=FAST_HASHER)
    # An error the app does not handle is a 500 to the terminal, as under uvicorn.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app,
                                                               raise_app_exceptions=False),
                                 base_url="http://hall/api/v1") as client:

        async def login(username: str, password: str) -> dict[str, str]:
            reply = await client.post("/auth/token",
                                      data={"username": username, "password": password})
            return {"Authorization": f"Bearer {reply.json()['access_token']}"}

        me = await login("cleo", "clerk-pass-1")
        assert (await client.post("/windows/w1/open", headers=me)).status_code == 200
        # A supervisor calls A004 to cleo's window (the policy would call A001 first).
        called = await client.post("/windows/w1/call", headers=await login("ada", "admin-pass-1"),
                                   json={"ticket_id": a4.ticket_id})
        assert called.status_code == 200, called.text
        moved = await client.post("/windows/w1/transfer", headers=me,
                                  json={"service": "transcript"})
        assert moved.status_code == 200, moved.text
        assert (moved.json()["number"], moved.json()["service"], moved.json()["state"]) == (
            "A004", "transcript", "waiting")
        queue_of_w2 = (await client.get("/windows/w2", headers=me)).json()
    assert [t["number"] for t in queue_of_w2["waiting"]] == ["B001", "B002", "B003", "B004",
                                                             "A004"]


async def test_a_take_over_parks_the_ticket_and_moves_the_window_in_postgres(
        database_url: str) -> None:
    settings = ClerkSettings(windows=(WindowDef("w71", 71, {"student-id": 1}),),
                             services=tuple(SERVICES))
    async with PostgresHallStore.connect(database_url, max_size=4) as store:
        assert isinstance(store, PostgresHallStore)
        await store.sync_services(SERVICES)
        clerk = ClerkService(store, PostgresTicketMoves(store.pool), settings)
        day = clerk.service_day(int(time.time() * 1000))
        await store.issue_ticket(take(day=day, device=None))
        await clerk.open_window("w71", "alice")
        called = await clerk.call_next("w71", "alice")
        assert called is not None
        taken = await clerk.take_over("w71", "ada", "alice went home")
        assert taken.previous_clerk == "alice" and taken.parked is not None
        status = await clerk.status("w71")
        assert status.session is not None and status.session.clerk == "ada"
        assert [t.ticket_id for t in status.parked] == [called.ticket_id]
        history = await store.ticket_transitions(called.ticket_id)
        assert history[-1].detail == "window taken over by ada: alice went home"
        closed = await clerk.force_close("w71", "ada", "closing")
        assert closed.session is None and (await clerk.status("w71")).session is None
