"""The browser kiosk's HTTP route: kiosk keys (created, listed, revoked by an admin), taking
tickets through TicketService.take, and no cases for a typed person id."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from api.auth import Authenticator
from hall_controller.fleet.model import Role
from hall_controller.queue.kiosk_keys import KioskKeyService, KioskLimits
from hall_controller.queue.kiosk_pairing import KioskPairingService
from hall_controller.queue.memory_kiosk_keys import MemoryKioskKeys
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.tickets import QueueSettings, TicketService
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.support.ticket_store_contract import SERVICES
from tests.unit.api_support import FAST_HASHER


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    users = MemoryUserStore()
    await ensure_user(users, "admin", "admin-pass-1", Role.ADMIN, hasher=FAST_HASHER)
    await ensure_user(users, "clerk1", "clerk-pass-1", Role.CLERK, hasher=FAST_HASHER)
    tickets = TicketService(MemoryTicketStore(), QueueSettings(services=tuple(SERVICES)))
    await tickets.start()
    store = MemoryKioskKeys()
    keys = KioskKeyService(store, KioskLimits(requests_per_key=20))
    app = api_app(users, tickets, keys, KioskPairingService(store, keys))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
        c.headers["Authorization"] = f"Bearer {await token(app, 'admin')}"
        for device_id in ("kiosk-web-1", "kiosk-web-2"):
            created = await c.post("/kiosk/keys", json={"device_id": device_id})
            KEYS[device_id] = created.json()["kiosk_key"]
        del c.headers["Authorization"]
        yield c


KEYS: dict[str, str] = {}


async def token(app: FastAPI, username: str) -> str:
    """A token straight from the issuer, without a login round trip."""
    auth = app.state.services.get(Authenticator)
    user = await auth.users.get_user(username)
    return str(auth.issue_token(user).access_token)


def app_of(client: httpx.AsyncClient) -> FastAPI:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    assert isinstance(transport.app, FastAPI)
    return transport.app


def kiosk(device_id: str = "kiosk-web-1") -> dict[str, str]:
    return {"X-Kiosk-Device": device_id, "X-Kiosk-Key": KEYS[device_id]}


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
    lambda: {},                                                            # no key at all
    lambda: {"X-Kiosk-Device": "kiosk-web-1", "X-Kiosk-Key": "kk_wrong"},  # wrong key
    lambda: {**kiosk("kiosk-web-2"), "X-Kiosk-Device": "kiosk-web-1"},     # another kiosk's key
])
async def test_without_the_right_key_nothing_is_issued(
        client: httpx.AsyncClient, headers: Callable[[], dict[str, str]]) -> None:
    response = await client.post("/kiosk/tickets", headers=headers(), json=take_body())
    assert response.status_code == 401
    assert "kiosk key" in response.json()["detail"]


@pytest.mark.parametrize(("body", "status"), [
    (take_body("no-such-service"), 404),
    ({"service": "student-id"}, 422),                                          # no request id
    (take_body(identity={"type": "face", "value": "x"}), 422),                 # not from a browser
    (take_body(identity={"type": "campus_card", "value": ""}), 422),
    (take_body(identity={"type": "qr", "value": "a\x00b"}), 422),
    (take_body(extra_field=1), 422),
])
async def test_bad_requests_get_clear_errors(client: httpx.AsyncClient, body: dict[str, object],
                                             status: int) -> None:
    response = await client.post("/kiosk/tickets", headers=kiosk(), json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


async def test_a_typed_person_id_gets_no_ticket_and_no_cases(client: httpx.AsyncClient) -> None:
    """Anybody can type anybody's person id: the kiosk shows cases only to a visitor its card
    reader or QR scanner identified."""
    typed = await client.post("/kiosk/tickets", headers=kiosk(),
                              json=take_body(identity={"type": "person_id",
                                                       "value": "2024010001"}))
    assert typed.status_code == 422
    assert "cases" not in typed.text and "ticket_id" not in typed.text
    card = await client.post("/kiosk/tickets", headers=kiosk(),
                             json=take_body(identity={"type": "campus_card", "value": "C1001"}))
    assert card.status_code == 200, card.text


async def test_an_admin_creates_lists_and_revokes_kiosk_keys(client: httpx.AsyncClient) -> None:
    app = app_of(client)
    admin = {"Authorization": f"Bearer {await token(app, 'admin')}"}
    clerk = {"Authorization": f"Bearer {await token(app, 'clerk1')}"}
    assert (await client.post("/kiosk/keys", json={"device_id": "kiosk-web-3"},
                              headers=clerk)).status_code == 403
    assert (await client.get("/kiosk/keys", headers=clerk)).status_code == 403
    bad = await client.post("/kiosk/keys", json={"device_id": "Bad Id!"}, headers=admin)
    assert bad.status_code == 422
    created = await client.post("/kiosk/keys", headers=admin,
                                json={"device_id": "kiosk-web-3", "name": "二楼"})
    assert created.status_code == 201, created.text
    plaintext = created.json()["kiosk_key"]
    key_id = created.json()["key_id"]
    used = await client.get("/kiosk/services",
                            headers={"X-Kiosk-Device": "kiosk-web-3", "X-Kiosk-Key": plaintext})
    assert used.status_code == 200
    listed = {k["key_id"]: k for k in (await client.get("/kiosk/keys", headers=admin)).json()}
    assert listed[key_id]["device_id"] == "kiosk-web-3" and listed[key_id]["name"] == "二楼"
    assert listed[key_id]["last_used_ms"] is not None and listed[key_id]["active"]
    assert plaintext not in str(listed), "the list never shows a key itself"
    revoked = await client.delete(f"/kiosk/keys/{key_id}", headers=admin)
    assert revoked.json()["active"] is False and revoked.json()["revoked_ms"]
    refused = await client.get("/kiosk/services",
                               headers={"X-Kiosk-Device": "kiosk-web-3", "X-Kiosk-Key": plaintext})
    assert refused.status_code == 401
    assert (await client.get("/kiosk/services", headers=kiosk())).status_code == 200
    assert (await client.delete("/kiosk/keys/000000000000", headers=admin)).status_code == 404


async def test_a_kiosk_over_its_rate_gets_429_with_retry_after(client: httpx.AsyncClient) -> None:
    answers = [(await client.get("/kiosk/services", headers=kiosk("kiosk-web-2"))).status_code
               for _ in range(21)]
    assert answers[:20] == [200] * 20
    last = await client.get("/kiosk/services", headers=kiosk("kiosk-web-2"))
    assert last.status_code == 429
    assert int(last.headers["Retry-After"]) >= 1


async def test_a_pairing_code_from_an_admin_sets_up_a_kiosk_once(client: httpx.AsyncClient) -> None:
    app = app_of(client)
    admin = {"Authorization": f"Bearer {await token(app, 'admin')}"}
    clerk = {"Authorization": f"Bearer {await token(app, 'clerk1')}"}
    assert (await client.post("/kiosk/pairing-codes", json={"device_id": "kiosk-web-9"},
                              headers=clerk)).status_code == 403
    issued = await client.post("/kiosk/pairing-codes", headers=admin,
                               json={"device_id": "kiosk-web-9", "name": "二楼"})
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"]
    assert issued.json()["state"] == "pending"

    wrong = await client.post("/kiosk/pair", json={"code": "ZZZZ-ZZZZ"})
    assert wrong.status_code == 404 and wrong.json()["code"] == "kiosk.pairing_code_unknown"
    assert (await client.post("/kiosk/pair", json={"code": "<script>"})).status_code == 422
    assert (await client.post("/kiosk/pair", json={"code": code, "x": 1})).status_code == 422
    paired = await client.post("/kiosk/pair", json={"code": code.lower()})
    assert paired.status_code == 200, paired.text
    assert paired.json()["device_id"] == "kiosk-web-9"
    headers = {"X-Kiosk-Device": "kiosk-web-9", "X-Kiosk-Key": paired.json()["kiosk_key"]}
    status = await client.get("/kiosk/status", headers=headers)
    assert status.json() == {"device_id": "kiosk-web-9", "name": "二楼"}
    again = await client.post("/kiosk/pair", json={"code": code})
    assert again.status_code == 410 and again.json()["code"] == "kiosk.pairing_code_used"
    listed = (await client.get("/kiosk/pairing-codes", headers=admin)).json()
    assert [(c["device_id"], c["state"]) for c in listed] == [("kiosk-web-9", "used")]
    assert code not in str(listed) and code.replace("-", "") not in str(listed)
    refused = await client.get("/kiosk/status", headers={**headers, "X-Kiosk-Key": "kk_x"})
    assert refused.status_code == 401
    assert refused.json()["code"] == "kiosk.not_set_up"
