"""Remote tickets (指尖办), kiosk check-in, lapse and the daily rollover, over the memory stores."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from devices.contract import Request
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import Role
from hall_controller.fleet.requests import RequestRouter
from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.queue.clerk import ClerkService, ClerkSettings
from hall_controller.queue.memory_moves import MemoryTicketMoves
from hall_controller.queue.memory_remote import MemoryRemoteTickets
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.model import ServiceDef, TicketSource, TicketState, WindowDef
from hall_controller.queue.ports import UnknownService
from hall_controller.queue.remote_tickets import InvalidRemoteRequest, RemoteTicketService
from hall_controller.queue.rules import call, park, start
from hall_controller.queue.service_day import (
    service_day_at,
    service_day_end_ms,
    service_day_start_ms,
)
from hall_controller.queue.tickets import QueueSettings, TicketService
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.support.remote_tickets_contract import RemoteStores, RemoteTicketsContract
from tests.unit.api_support import FAST_HASHER

SHANGHAI = ZoneInfo("Asia/Shanghai")
SERVICES = (ServiceDef("student-id", "学生证办理", "A"), ServiceDef("dorm", "宿舍事务", "C"))
MINUTE = 60_000


def utc_ms(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


# 2026-11-28 01:30 UTC is 09:30 in Shanghai (service day 2026-11-28).
MORNING = utc_ms(2026, 11, 28, 1, 30)


# --- the service day -------------------------------------------------------------------------


def test_the_service_day_ends_at_the_local_rollover_time_not_at_midnight() -> None:
    rollover = time(3, 0)
    # 2026-11-28 18:59:59.999 UTC is 02:59:59.999 on the 29th in Shanghai: still the 28th's day.
    assert service_day_at(utc_ms(2026, 11, 28, 18, 59, 59) + 999, SHANGHAI, rollover) == "2026-11-28"
    assert service_day_at(utc_ms(2026, 11, 28, 19, 0), SHANGHAI, rollover) == "2026-11-29"
    # Local midnight changes nothing; neither does UTC midnight (08:00 local).
    assert service_day_at(utc_ms(2026, 11, 28, 16, 30), SHANGHAI, rollover) == "2026-11-28"
    assert service_day_at(utc_ms(2026, 11, 29, 0, 0), SHANGHAI, rollover) == "2026-11-29"
    assert service_day_at(utc_ms(2026, 11, 28, 23, 59), SHANGHAI, rollover) == "2026-11-29"


def test_service_day_bounds_match_the_day_function() -> None:
    rollover = time(3, 0)
    start_ms = service_day_start_ms("2026-11-29", SHANGHAI, rollover)
    assert start_ms == utc_ms(2026, 11, 28, 19, 0)
    assert service_day_end_ms("2026-11-29", SHANGHAI, rollover) == utc_ms(2026, 11, 29, 19, 0)
    assert service_day_at(start_ms - 1, SHANGHAI, rollover) == "2026-11-28"
    assert service_day_at(start_ms, SHANGHAI, rollover) == "2026-11-29"


def test_service_day_across_a_dst_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 2026-03-29: clocks go 02:00 → 03:00 in Berlin; the 03:00 rollover is 01:00 UTC that day.
    assert service_day_start_ms("2026-03-29", berlin, time(3, 0)) == utc_ms(2026, 3, 29, 1, 0)
    assert service_day_at(utc_ms(2026, 3, 29, 0, 59), berlin, time(3, 0)) == "2026-03-28"
    assert service_day_at(utc_ms(2026, 3, 29, 1, 0), berlin, time(3, 0)) == "2026-03-29"


# --- the hall over memory stores -------------------------------------------------------------


class Hall:
    def __init__(self, **settings: Any) -> None:
        self.now = MORNING
        self.store = MemoryTicketStore()
        self.moves = MemoryTicketMoves(self.store)
        self.remote_store = MemoryRemoteTickets(self.store)
        settings.setdefault("rollover_at", time(3, 0))
        self.tickets = TicketService(self.store, QueueSettings(services=SERVICES, **settings),
                                     clock=lambda: self.now)
        self.remote = RemoteTicketService(self.tickets, self.store, self.moves, self.remote_store,
                                          clock=lambda: self.now)
        self.tickets.checkin = self.remote
        self.router = RequestRouter()
        self.router.register("ticket.take", self.tickets.take)

    async def kiosk_take(self, params: dict[str, Any], request_id: str | None = None,
                         device: str = "kiosk-01") -> dict[str, Any]:
        request = Request(id=request_id or str(uuid.uuid4()), method="ticket.take", params=params)
        response = await self.router.handle(device, None, request)
        return response.model_dump(exclude_none=True)


@pytest.fixture
async def hall() -> Hall:
    h = Hall()
    await h.tickets.start()
    return h


PERSON = ("person_id", "2023001234")


async def test_a_remote_ticket_gets_its_number_now_and_waits_for_check_in(hall: Hall) -> None:
    walk_in = (await hall.kiosk_take({"service": "student-id"}))["result"]
    view = await hall.remote.take("student-id", PERSON, caller="api_key:platform")
    assert view.ticket.number == "A002"  # the same counter as the kiosks
    assert view.ticket.state is TicketState.AWAITING_CHECKIN
    assert view.ticket.source is TicketSource.REMOTE
    assert view.checkin_by_ms == MORNING + 60 * MINUTE
    assert view.waiting_ahead == 1 and view.estimated_wait_s == 300
    # Not in the queue: no window can call it while the visitor is not here.
    waiting = await hall.moves.waiting_for(["student-id"], "2026-11-28")
    assert [t.ticket_id for t in waiting] == [walk_in["ticket_id"]]
    transitions = await hall.store.ticket_transitions(view.ticket.ticket_id)
    assert [(t.from_state, t.to_state, t.actor) for t in transitions] == [
        (None, TicketState.AWAITING_CHECKIN, "remote:api_key:platform")]


async def test_a_kiosk_take_with_the_same_identity_checks_the_ticket_in(hall: Hall) -> None:
    view = await hall.remote.take("student-id", PERSON, caller="user:cleo")
    hall.now += 20 * MINUTE
    walk_in = (await hall.kiosk_take({"service": "student-id"}))["result"]
    hall.now += 5 * MINUTE
    reply = await hall.kiosk_take({"service": "student-id",
                                   "identity": {"type": "person_id", "value": PERSON[1]}},
                                  request_id="req-1")
    assert reply["ok"], reply
    result = reply["result"]
    assert result["checked_in"] is True
    assert result["ticket_id"] == view.ticket.ticket_id and result["ticket"] == "A001"
    assert set(result) == {"ticket", "ticket_id", "service", "waiting_ahead",
                           "estimated_wait_s", "cases", "checked_in"}
    # It queues from check-in: behind the walk-in who came in person first.
    assert result["waiting_ahead"] == 1
    stored = hall.store.tickets[view.ticket.ticket_id]
    assert stored.state is TicketState.WAITING and stored.issued_ms == hall.now
    waiting = await hall.moves.waiting_for(["student-id"], "2026-11-28")
    assert [t.ticket_id for t in waiting] == [walk_in["ticket_id"], view.ticket.ticket_id]
    last = (await hall.store.ticket_transitions(view.ticket.ticket_id))[-1]
    assert (last.from_state, last.to_state, last.actor) == (
        TicketState.AWAITING_CHECKIN, TicketState.WAITING, "kiosk:kiosk-01")

    # The kiosk resends the same request: the same ticket, no second number.
    again = (await hall.kiosk_take({"service": "student-id",
                                    "identity": {"type": "person_id", "value": PERSON[1]}},
                                   request_id="req-1"))["result"]
    assert again["ticket_id"] == view.ticket.ticket_id and again["checked_in"] is True
    # A new request with the same identity: nothing awaits check-in, so a new ticket.
    other = (await hall.kiosk_take({"service": "student-id",
                                    "identity": {"type": "person_id", "value": PERSON[1]}}))
    assert other["result"]["ticket"] == "A003" and "checked_in" not in other["result"]
    assert hall.store.counters[("student-id", "2026-11-28")] == 3


async def test_check_in_needs_the_same_identity_and_service(hall: Hall) -> None:
    await hall.remote.take("student-id", ("campus_card", "C-77"), caller="user:cleo")
    for params in ({"service": "dorm", "identity": {"type": "campus_card", "value": "C-77"}},
                   {"service": "student-id", "identity": {"type": "person_id", "value": "C-77"}},
                   {"service": "student-id"}):
        result = (await hall.kiosk_take(params))["result"]
        assert "checked_in" not in result
    card = (await hall.kiosk_take({"service": "student-id",
                                   "identity": {"type": "campus_card", "value": "C-77"}}))
    assert card["result"]["checked_in"] is True


async def test_status_shows_position_and_estimate(hall: Hall) -> None:
    view = await hall.remote.take("student-id", PERSON, caller="user:cleo")
    for _ in range(2):
        await hall.kiosk_take({"service": "student-id"})
    status = await hall.remote.status(view.ticket.ticket_id)
    assert status.ticket.state is TicketState.AWAITING_CHECKIN
    assert status.waiting_ahead == 2 and status.estimated_wait_s == 600
    hall.now += MINUTE
    await hall.kiosk_take({"service": "student-id",
                           "identity": {"type": "person_id", "value": PERSON[1]}})
    assert (await hall.remote.status(view.ticket.ticket_id)).waiting_ahead == 2
    with pytest.raises(NotFound):
        await hall.remote.status(str(uuid.uuid4()))
    kiosk_ticket = next(t for t in hall.store.tickets.values() if t.source is TicketSource.KIOSK)
    with pytest.raises(NotFound):  # this API shows only remote tickets
        await hall.remote.status(kiosk_ticket.ticket_id)


async def test_take_refuses_what_it_cannot_serve(hall: Hall) -> None:
    with pytest.raises(UnknownService):
        await hall.remote.take("nope", PERSON, caller="user:cleo")
    with pytest.raises(InvalidRemoteRequest):
        await hall.remote.take("student-id", ("qr", "x"), caller="user:cleo")
    with pytest.raises(InvalidRemoteRequest):  # in the past
        await hall.remote.take("student-id", PERSON, caller="user:cleo", arrive_by_ms=MORNING)
    with pytest.raises(InvalidRemoteRequest):  # after today's service day ends (03:00 tomorrow)
        await hall.remote.take("student-id", PERSON, caller="user:cleo",
                               arrive_by_ms=utc_ms(2026, 11, 28, 19, 0) + 1)
    with pytest.raises(NotFound):  # a case needs the case engine
        await hall.remote.take("student-id", PERSON, caller="user:cleo", case_id="case-1")
    await hall.remote.take("student-id", PERSON, caller="user:cleo")
    with pytest.raises(Conflict):
        await hall.remote.take("student-id", PERSON, caller="user:cleo")
    assert hall.store.counters[("student-id", "2026-11-28")] == 1  # nothing refused took a number


async def test_the_same_idempotency_key_answers_with_the_same_ticket(hall: Hall) -> None:
    first = await hall.remote.take("student-id", PERSON, caller="api_key:p", request_id="k1")
    again = await hall.remote.take("student-id", PERSON, caller="api_key:p", request_id="k1")
    assert again.ticket.ticket_id == first.ticket.ticket_id and not again.created


async def test_a_ticket_not_checked_in_in_time_lapses(hall: Hall) -> None:
    default = await hall.remote.take("student-id", PERSON, caller="user:cleo")
    early = await hall.remote.take("dorm", PERSON, caller="user:cleo",
                                   arrive_by_ms=MORNING + 10 * MINUTE)
    hall.now = MORNING + 10 * MINUTE
    assert await hall.remote.lapse_due() == 1
    assert hall.store.tickets[early.ticket.ticket_id].state is TicketState.LAPSED
    assert hall.store.tickets[default.ticket.ticket_id].state is TicketState.AWAITING_CHECKIN
    hall.now = MORNING + 60 * MINUTE
    assert await hall.remote.lapse_due() == 1
    lapsed = hall.store.tickets[default.ticket.ticket_id]
    assert lapsed.state is TicketState.LAPSED and lapsed.completed_ms == hall.now
    last = (await hall.store.ticket_transitions(lapsed.ticket_id))[-1]
    assert (last.to_state, last.actor) == (TicketState.LAPSED, "system")
    assert await hall.remote.lapse_due() == 0
    # Too late: the kiosk issues a new ticket instead.
    reply = (await hall.kiosk_take({"service": "student-id",
                                    "identity": {"type": "person_id", "value": PERSON[1]}}))
    assert "checked_in" not in reply["result"]


async def test_a_checked_in_ticket_does_not_lapse(hall: Hall) -> None:
    view = await hall.remote.take("student-id", PERSON, caller="user:cleo")
    await hall.kiosk_take({"service": "student-id",
                           "identity": {"type": "person_id", "value": PERSON[1]}})
    hall.now += 2 * 60 * MINUTE
    assert await hall.remote.lapse_due() == 0
    assert hall.store.tickets[view.ticket.ticket_id].state is TicketState.WAITING


async def test_rollover_closes_the_open_tickets_of_earlier_days_and_keeps_history() -> None:
    hall = Hall(remote_checkin_window_min=24 * 60)
    await hall.tickets.start()
    hall.now = utc_ms(2026, 11, 28, 12, 0)  # 20:00 local on the 28th
    numbers = [(await hall.kiosk_take({"service": "student-id"}))["result"]["ticket_id"]
               for _ in range(5)]
    remote = await hall.remote.take("dorm", PERSON, caller="user:cleo")
    waiting, called_id, parked_id, serving_id, _ = numbers
    for ticket_id, then in ((called_id, None), (parked_id, park), (serving_id, start)):
        ticket = hall.store.tickets[ticket_id]
        await hall.moves.apply_move(
            call(ticket, window_id="w1", actor="clerk:cleo", now_ms=hall.now), ticket.state)
        if then is not None:
            ticket = hall.store.tickets[ticket_id]
            await hall.moves.apply_move(then(ticket, actor="clerk:cleo", now_ms=hall.now),
                                        ticket.state)

    hall.now = utc_ms(2026, 11, 28, 18, 59)  # 02:59 local on the 29th: the same service day
    assert await hall.remote.rollover() == 0
    # Still the 28th's day: the number goes on.
    assert (await hall.kiosk_take({"service": "student-id"}))["result"]["ticket"] == "A006"

    hall.now = utc_ms(2026, 11, 28, 19, 0)  # 03:00 local: the 29th's day begins
    # waiting ×3 (A001, A005, A006), called, parked, awaiting check-in
    assert await hall.remote.rollover() == 6
    states = {tid: t.state for tid, t in hall.store.tickets.items()}
    assert states[waiting] is TicketState.CANCELLED
    assert states[called_id] is TicketState.CANCELLED
    assert states[parked_id] is TicketState.CANCELLED
    assert states[serving_id] is TicketState.SERVING  # the clerk finishes it
    assert states[remote.ticket.ticket_id] is TicketState.LAPSED
    assert len(hall.store.tickets) == 7  # rows kept
    last = (await hall.store.ticket_transitions(called_id))[-1]
    assert (last.from_state, last.to_state, last.actor, last.detail) == (
        TicketState.CALLED, TicketState.CANCELLED, "system", "rollover")
    assert len(await hall.store.ticket_transitions(called_id)) == 3
    assert await hall.remote.rollover() == 0  # nothing left to close
    # Numbering restarts with the new service day.
    fresh = (await hall.kiosk_take({"service": "student-id"}))["result"]
    assert fresh["ticket"] == "A001"
    assert hall.store.tickets[fresh["ticket_id"]].service_day == "2026-11-29"


# --- the HTTP API ----------------------------------------------------------------------------


@dataclass
class Api:
    client: httpx.AsyncClient
    hall: Hall

    async def login(self, username: str, password: str) -> dict[str, str]:
        reply = await self.client.post("/api/v1/auth/token",
                                       data={"username": username, "password": password})
        assert reply.status_code == 200, reply.text
        return {"Authorization": f"Bearer {reply.json()['access_token']}"}


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    store = MemoryStore()
    users = MemoryUserStore()
    await ensure_user(users, "cleo", "clerk-pass-1", Role.CLERK, hasher=FAST_HASHER)
    h = Hall()
    await h.tickets.start()
    app = api_app(store, h.remote, users=users)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hall.test") as client:
        yield Api(client, h)


async def test_the_api_takes_and_shows_a_remote_ticket(api: Api) -> None:
    assert (await api.client.post("/api/v1/remote-tickets",
                                  json={"service": "student-id", "person_id": "p1"})
            ).status_code == 401
    me = await api.login("cleo", "clerk-pass-1")
    taken = await api.client.post("/api/v1/remote-tickets", headers=me,
                                  json={"service": "student-id", "person_id": "p1"})
    assert taken.status_code == 201, taken.text
    body = taken.json()
    assert body["ticket"] == "A001" and body["state"] == "awaiting_checkin"
    assert body["waiting_ahead"] == 0 and body["estimated_wait_s"] == 0
    assert body["checkin_by_ms"] == MORNING + 60 * MINUTE
    shown = await api.client.get(f"/api/v1/remote-tickets/{body['ticket_id']}", headers=me)
    assert shown.status_code == 200 and shown.json()["ticket_id"] == body["ticket_id"]

    again = await api.client.post("/api/v1/remote-tickets", headers=me,
                                  json={"service": "student-id", "person_id": "p1"})
    assert again.status_code == 409
    for bad in ({"service": "student-id"},
                {"service": "student-id", "person_id": "p2", "campus_card": "c"},
                {"service": "student-id", "person_id": "p2", "arrive_by_ms": 1}):
        assert (await api.client.post("/api/v1/remote-tickets", headers=me, json=bad)
                ).status_code == 422, bad
    assert (await api.client.post("/api/v1/remote-tickets", headers=me,
                                  json={"service": "nope", "person_id": "p2"})).status_code == 404
    assert (await api.client.get(f"/api/v1/remote-tickets/{uuid.uuid4()}", headers=me)
            ).status_code == 404


def test_the_window_terminal_uses_the_same_service_day() -> None:
    store = MemoryTicketStore()
    clerk = ClerkService(store, MemoryTicketMoves(store),
                         ClerkSettings(windows=(WindowDef("w1", 1, {"student-id": 1}),),
                                       rollover_at=time(3, 0)))
    assert clerk.service_day(utc_ms(2026, 11, 28, 18, 59)) == "2026-11-28"  # 02:59 local
    assert clerk.service_day(utc_ms(2026, 11, 28, 19, 0)) == "2026-11-29"   # 03:00 local


class TestMemoryRemoteTickets(RemoteTicketsContract):
    @pytest.fixture
    def remote_stores(self) -> RemoteStores:
        tickets = MemoryTicketStore()
        return RemoteStores(tickets, MemoryRemoteTickets(tickets))


async def test_no_rollover_while_it_is_held_for_an_earlier_day_being_replayed() -> None:
    # The demo started between the rollover and opening replays yesterday through the
    # services; the controller's housekeeping must not cancel those tickets mid-replay.
    hall = Hall(remote_checkin_window_min=24 * 60)
    await hall.tickets.start()
    hall.now = utc_ms(2026, 11, 28, 12, 0)  # 20:00 local on the 28th
    taken = (await hall.kiosk_take({"service": "student-id"}))["result"]["ticket_id"]
    hall.now = utc_ms(2026, 11, 28, 20, 0)  # 04:00 local: the 29th's day
    async with hall.remote.rollover_held():
        housekeeping = asyncio.create_task(hall.remote.rollover())
        for _ in range(20):                  # loop turns (no I/O here): it waits for the hold
            await asyncio.sleep(0)
        assert not housekeeping.done()
        assert hall.store.tickets[taken].state is TicketState.WAITING
    assert await housekeeping == 1           # once the replay is over, it closes what is left
    assert hall.store.tickets[taken].state is TicketState.CANCELLED
