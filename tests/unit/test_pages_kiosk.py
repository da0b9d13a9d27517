"""The browser kiosk's HTTP route: kiosk keys, taking tickets through TicketService.take."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from api.auth import Authenticator
from api.routes.kiosk import kiosk_key
from hall_controller.fleet.model import Role
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.tickets import QueueSettings, TicketService
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.support.ticket_store_contract import SERVICES
from tests.unit.api_support import FAST_HASHER, SECRET


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    users = MemoryUserStore()
    await ensure_user(users, "admin", "admin-pass-1", Role.ADMIN, hasher=FAST_HASHER)
    await ensure_user(users, "clerk1", "clerk-pass-1", Role.CLERK, hasher=FAST_HASHER)
    tickets = TicketService(MemoryTicketStore(), QueueSettings(services=tuple(SERVICES)))
    await tickets.start()
    app = api_app(users, tickets)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
        yield c


def kiosk(device_id: str = "kiosk-web-1") -> dict[str, str]:
    return {"X-Kiosk-Device": device_id, "X-Kiosk-Key": kiosk_key(SECRET, device_id)}


def take_body(service: str = "student-id", **extra: object) -> dict[str, object]:
    return {"service": service, "request_id": str(uuid.uuid4()), **extra}


async def test_a_kiosk_with_its_key_takes_numbered_tickets(client: httpx.AsyncClient) -> None:
    services = await client.get("/kiosk/services", headers=kiosk())
    assert services.status_code == 200
    assert "student-id" in [s["code"] for s in services.json()]
    first = await client.post("/kiosk/tickets", headers=kiosk(), json=take_body())
    second = await client.post("/kiosk/tickets", headers=kiosk(), json=take_body())
    assert first.status_code == 200, first.text
    assert first.json()["ticket"] != second.json()["ticket"]
    assert second.json()["waiting_ahead"] == 1
    assert first.json()["issued_to"] == "kiosk-web-1"
    assert first.json()["estimated_wait_s"] >= 0


async def test_a_retried_request_gets_the_same_ticket(client: httpx.AsyncClient) -> None:
    body = take_body()
    first = await client.post("/kiosk/tickets", headers=kiosk(), json=body)
    again = await client.post("/kiosk/tickets", headers=kiosk(), json=body)
    assert first.json()["ticket_id"] == again.json()["ticket_id"]


@pytest.mark.parametrize("headers", [
    {},                                                              # no key at all
    {"X-Kiosk-Device": "kiosk-web-1", "X-Kiosk-Key": "kk_wrong"},    # wrong key
    {**kiosk("kiosk-web-2"), "X-Kiosk-Device": "kiosk-web-1"},       # another kiosk's key
])
async def test_without_the_right_key_nothing_is_issued(client: httpx.AsyncClient,
                                                       headers: dict[str, str]) -> None:
    response = await client.post("/kiosk/tickets", headers=headers, json=take_body())
    assert response.status_code == 401
    assert "kiosk key" in response.json()["detail"]


@pytest.mark.parametrize(("body", "status"), [
    (take_body("no-such-service"), 404),
    ({"service": "student-id"}, 422),                                          # no request id
    (take_body(identity={"type": "face", "value": "x"}), 422),                 # not from a browser
    (take_body(identity={"type": "person_id", "value": ""}), 422),
    (take_body(identity={"type": "person_id", "value": "a\x00b"}), 422),
    (take_body(extra_field=1), 422),
])
async def test_bad_requests_get_clear_errors(client: httpx.AsyncClient, body: dict[str, object],
                                             status: int) -> None:
    response = await client.post("/kiosk/tickets", headers=kiosk(), json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


async def test_only_an_admin_issues_kiosk_keys(client: httpx.AsyncClient) -> None:
    app_client = client
    # Tokens straight from the issuer, without a login round trip.
    transport = app_client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    auth = app.state.services.get(Authenticator)
    admin = auth.issue_token(await auth.users.get_user("admin")).access_token
    clerk = auth.issue_token(await auth.users.get_user("clerk1")).access_token
    refused = await client.post("/kiosk/keys", json={"device_id": "kiosk-web-1"},
                                headers={"Authorization": f"Bearer {clerk}"})
    assert refused.status_code == 403
    issued = await client.post("/kiosk/keys", json={"device_id": "kiosk-web-1"},
                               headers={"Authorization": f"Bearer {admin}"})
    assert issued.json()["kiosk_key"] == kiosk_key(SECRET, "kiosk-web-1")
    bad = await client.post("/kiosk/keys", json={"device_id": "Bad Id!"},
                            headers={"Authorization": f"Bearer {admin}"})
    assert bad.status_code == 422
