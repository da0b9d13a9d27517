"""The window terminal's HTTP API over the memory stores, mounted as the lead will mount it."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import Role
from hall_controller.queue.clerk import ClerkService, ClerkSettings
from hall_controller.queue.memory_moves import MemoryTicketMoves
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.model import ServiceDef, Ticket, WindowDef
from hall_controller.queue.ports import TicketRequest
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.unit.api_support import FAST_HASHER

PASSWORDS = {"ada": "admin-pass-1", "fay": "facilities-pass", "cleo": "clerk-pass-1",
             "carl": "clerk-pass-2"}
SERVICES = (ServiceDef("student-id", "学生证办理", "A"), ServiceDef("dorm", "宿舍事务", "C"))


@dataclass
class Terminal:
    client: httpx.AsyncClient
    tickets: MemoryTicketStore
    clerk: ClerkService

    async def login(self, username: str) -> dict[str, str]:
        reply = await self.client.post("/api/v1/auth/token",
                                       data={"username": username,
                                             "password": PASSWORDS[username]})
        assert reply.status_code == 200, reply.text
        return {"Authorization": f"Bearer {reply.json()['access_token']}"}

    async def take(self, service: str, case_ids: tuple[str, ...] = ()) -> Ticket:
        now = int(time.time() * 1000)
        issued = await self.tickets.issue_ticket(TicketRequest(
            ticket_id=str(uuid.uuid4()), service_code=service,
            service_day=self.clerk.service_day(now), issued_ms=now - 1000, actor="kiosk:k1"))
        self.tickets.tickets[issued.ticket.ticket_id].case_ids = list(case_ids)
        return issued.ticket


@pytest.fixture
async def terminal() -> AsyncIterator[Terminal]:
    store = MemoryStore()
    users = MemoryUserStore()
    for username, role in (("ada", Role.ADMIN), ("fay", Role.FACILITIES), ("cleo", Role.CLERK),
                           ("carl", Role.CLERK)):
        await ensure_user(users, username, PASSWORDS[username], role, hasher=FAST_HASHER)
    tickets = MemoryTicketStore()
    await tickets.sync_services(SERVICES)
    clerk = ClerkService(tickets, MemoryTicketMoves(tickets), ClerkSettings(
        windows=(WindowDef("w1", 1, {"student-id": 1}), WindowDef("w2", 2, {"dorm": 1})),
        services=SERVICES))
    app = api_app(store, clerk, users=users)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hall.test") as client:
        yield Terminal(client, tickets, clerk)


async def test_a_clerk_serves_a_visitor_from_open_to_close(terminal: Terminal) -> None:
    me = await terminal.login("cleo")
    ticket = await terminal.take("student-id", ("case-1",))
    opened = await terminal.client.post("/api/v1/windows/w1/open", headers=me)
    assert opened.status_code == 200, opened.text
    assert opened.json()["session"]["clerk"] == "cleo"
    assert opened.json()["next_up"]["number"] == ticket.number

    called = await terminal.client.post("/api/v1/windows/w1/call-next", headers=me)
    assert called.json()["called"]["number"] == "A001"
    window = (await terminal.client.get("/api/v1/windows/w1", headers=me)).json()
    assert window["current"]["number"] == "A001"
    assert window["current"]["case_ids"] == ["case-1"]

    assert (await terminal.client.post("/api/v1/windows/w1/recall", headers=me)).json()[
        "recalls"] == 1
    assert (await terminal.client.post("/api/v1/windows/w1/start", headers=me)).json()[
        "state"] == "serving"
    done = await terminal.client.post("/api/v1/windows/w1/complete", headers=me,
                                      json={"outcome": "resolved"})
    assert done.status_code == 200, done.text
    assert done.json()["ticket"]["state"] == "done"
    nobody = await terminal.client.post("/api/v1/windows/w1/call-next", headers=me)
    assert nobody.json() == {"called": None}
    closed = await terminal.client.post("/api/v1/windows/w1/close", headers=me)
    assert closed.json()["session"] is None

    # My figures today come from the ticket history: one called (the recall is not another
    # call), one done; the other clerk has none.
    mine = (await terminal.client.get("/api/v1/windows/my-day", headers=me)).json()
    assert mine["clerk"] == "cleo" and mine["service_day"] == ticket.service_day
    assert (mine["called"], mine["done"], mine["no_show"]) == (1, 1, 0)
    assert mine["mean_service_s"] is not None and mine["mean_service_s"] >= 0
    other = await terminal.login("carl")
    theirs = (await terminal.client.get("/api/v1/windows/my-day", headers=other)).json()
    assert (theirs["called"], theirs["done"], theirs["mean_service_s"]) == (0, 0, None)


async def test_errors_say_what_to_do(terminal: Terminal) -> None:
    me = await terminal.login("cleo")
    not_open = await terminal.client.post("/api/v1/windows/w1/call-next", headers=me)
    assert not_open.status_code == 409 and "open it first" in not_open.json()["detail"]
    assert (await terminal.client.get("/api/v1/windows/w9", headers=me)).status_code == 404
    await terminal.take("student-id")
    await terminal.client.post("/api/v1/windows/w1/open", headers=me)
    await terminal.client.post("/api/v1/windows/w1/call-next", headers=me)
    for _ in range(2):
        await terminal.client.post("/api/v1/windows/w1/recall", headers=me)
    limit = await terminal.client.post("/api/v1/windows/w1/recall", headers=me)
    assert limit.status_code == 409 and "no-show" in limit.json()["detail"]
    pending = await terminal.client.post("/api/v1/windows/w1/complete", headers=me,
                                         json={"outcome": "pending_materials"})
    assert pending.status_code == 422
    other = await terminal.client.post("/api/v1/windows/w1/no-show",
                                       headers=await terminal.login("carl"))
    assert other.status_code == 409 and "open by cleo" in other.json()["detail"]
    assert (await terminal.client.post("/api/v1/windows/w1/no-show", headers=me)).json()[
        "state"] == "no_show"


async def test_transfer_park_resume(terminal: Terminal) -> None:
    me = await terminal.login("cleo")
    await terminal.take("student-id")
    await terminal.client.post("/api/v1/windows/w1/open", headers=me)
    await terminal.client.post("/api/v1/windows/w1/call-next", headers=me)
    parked = await terminal.client.post("/api/v1/windows/w1/park", headers=me,
                                        json={"reason": "fetching photo"})
    assert parked.json()["state"] == "parked"
    resumed = await terminal.client.post("/api/v1/windows/w1/resume", headers=me)
    assert resumed.json()["state"] == "waiting"
    await terminal.client.post("/api/v1/windows/w1/call-next", headers=me)
    moved = await terminal.client.post("/api/v1/windows/w1/transfer", headers=me,
                                       json={"service": "dorm"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["service"] == "dorm" and moved.json()["state"] == "waiting"


async def test_roles(terminal: Terminal) -> None:
    facilities = await terminal.login("fay")
    assert (await terminal.client.get("/api/v1/windows", headers=facilities)).status_code == 403
    assert (await terminal.client.get("/api/v1/windows")).status_code == 401
    admin = await terminal.login("ada")
    listed = await terminal.client.get("/api/v1/windows", headers=admin)
    assert [w["window_id"] for w in listed.json()] == ["w1", "w2"]
    ticket = await terminal.take("dorm")
    clerk = await terminal.login("cleo")
    await terminal.client.post("/api/v1/windows/w1/open", headers=clerk)
    refused = await terminal.client.post("/api/v1/windows/w1/call", headers=clerk,
                                         json={"ticket_id": ticket.ticket_id})
    assert refused.status_code == 403
    called = await terminal.client.post("/api/v1/windows/w1/call", headers=admin,
                                        json={"ticket_id": ticket.ticket_id})
    assert called.status_code == 200 and called.json()["called"]["number"] == "C001"


async def test_an_admin_takes_over_a_clerks_window_with_a_note(terminal: Terminal) -> None:
    cleo, ada = await terminal.login("cleo"), await terminal.login("ada")
    await terminal.take("student-id")
    await terminal.client.post("/api/v1/windows/w1/open", headers=cleo)
    await terminal.client.post("/api/v1/windows/w1/call-next", headers=cleo)
    # A clerk cannot take another's window; a take-over needs a note.
    carl = await terminal.login("carl")
    assert (await terminal.client.post("/api/v1/windows/w1/take-over", headers=carl,
                                       json={"note": "mine now"})).status_code == 403
    assert (await terminal.client.post("/api/v1/windows/w1/take-over", headers=ada,
                                       json={"note": ""})).status_code == 422
    taken = await terminal.client.post("/api/v1/windows/w1/take-over", headers=ada,
                                       json={"note": "cleo called away"})
    assert taken.status_code == 200, taken.text
    body = taken.json()
    assert body["previous_clerk"] == "cleo" and body["parked"]["number"] == "A001"
    assert body["window"]["session"]["clerk"] == "ada"
    assert [t["number"] for t in body["window"]["parked"]] == ["A001"]
    # cleo's next press is refused, naming who has the window now.
    refused = await terminal.client.post("/api/v1/windows/w1/call-next", headers=cleo)
    assert refused.status_code == 409 and "ada" in refused.json()["detail"]
    closed = await terminal.client.post("/api/v1/windows/w1/force-close", headers=ada,
                                        json={"note": "end of day"})
    assert closed.status_code == 200 and closed.json()["window"]["session"] is None
    again = await terminal.client.post("/api/v1/windows/w1/force-close", headers=ada,
                                       json={"note": "end of day"})
    assert again.status_code == 409
