"""The integration API over the in-memory stores: what the online platform and an admin see."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

import httpx
import pytest

from hall_controller.cases.destination_guard import DestinationGuard
from hall_controller.cases.destinations import IPAddress
from hall_controller.cases.integration_keys import ApiKeyService
from hall_controller.cases.memory_store import MemoryCaseStore
from hall_controller.cases.rules import CompletionOutcome
from hall_controller.cases.service import CaseService
from hall_controller.cases.webhooks import WebhookService
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import Role
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.unit.api_support import FAST_HASHER

PASSWORDS = {"ada": "admin-pass-1", "cleo": "clerk-pass-1", "fay": "facilities-pass"}
CASES = "/api/v1/integration/cases"
# What the test DNS answers: platform.test is public, intranet.test is on the campus network.
DNS = {"platform.test": "93.184.216.34", "intranet.test": "10.20.0.5"}


async def campus_dns(host: str, port: int) -> Sequence[IPAddress]:
    if host not in DNS:
        raise OSError(-2, "Name or service not known")
    return [ip_address(DNS[host])]


@dataclass
class Platform:
    client: httpx.AsyncClient
    cases: CaseService
    case_store: MemoryCaseStore
    admin: dict[str, str]

    async def login(self, username: str) -> dict[str, str]:
        reply = await self.client.post("/api/v1/auth/token", data={
            "username": username, "password": PASSWORDS[username]})
        return {"Authorization": f"Bearer {reply.json()['access_token']}"}

    async def key(self, *scopes: str) -> dict[str, str]:
        reply = await self.client.post("/api/v1/integration/keys", headers=self.admin,
                                       json={"name": "platform", "scopes": list(scopes)})
        assert reply.status_code == 201, reply.text
        return {"X-Api-Key": reply.json()["api_key"]}


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    store = MemoryStore()
    users = MemoryUserStore()
    for username, role in (("ada", Role.ADMIN), ("cleo", Role.CLERK),
                           ("fay", Role.FACILITIES)):
        await ensure_user(users, username, PASSWORDS[username], role, hasher=FAST_HASHER)
    case_store = MemoryCaseStore()
    cases = CaseService(case_store)
    webhooks = WebhookService(case_store, guard=DestinationGuard(resolver=campus_dns))
    app = api_app(store, cases, webhooks, ApiKeyService(case_store), users=users)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hall.test") as client:
        platform = Platform(client, cases, case_store, {})
        platform.admin = await platform.login("ada")
        yield platform


def body(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "service_code": "student-id", "status": "awaiting_visit",
        "applicant": {"person_id": "p-1", "campus_card": "card-1", "name": "李雷"},
        "materials": [{"code": "photo", "name": "证件照", "received": False}],
        "appointment": {"at_ms": 1_780_000_000_000, "window_start_ms": 1_779_999_000_000,
                        "window_end_ms": 1_780_001_000_000},
    }
    value.update(changes)
    return value


# --- API keys ----------------------------------------------------------------------------------


async def test_an_admin_creates_a_key_that_is_shown_once_and_stored_hashed(
    platform: Platform,
) -> None:
    reply = await platform.client.post("/api/v1/integration/keys", headers=platform.admin,
                                       json={"name": "platform", "scopes": ["cases:write"]})
    assert reply.status_code == 201
    created = reply.json()
    plaintext = created["api_key"]
    assert plaintext.startswith("hk_")
    stored = platform.case_store.api_keys[created["key_id"]]
    assert plaintext.split("_", 2)[2] not in repr(stored)
    listed = (await platform.client.get("/api/v1/integration/keys",
                                        headers=platform.admin)).json()
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert "api_key" not in listed[0]

    me = await platform.client.get("/api/v1/auth/me", headers={"X-Api-Key": plaintext})
    assert me.json() == {"username": f"api-key:{created['key_id']}", "role": None,
                         "kind": "api_key", "signed_on": False, "person_kind": None,
                         "person_id": None}
    # The Authorization: ApiKey form works too.
    me = await platform.client.get("/api/v1/auth/me",
                                   headers={"Authorization": f"ApiKey {plaintext}"})
    assert me.status_code == 200


async def test_a_revoked_or_wrong_key_is_401(platform: Platform) -> None:
    headers = await platform.key("cases:write", "cases:read")
    key_id = headers["X-Api-Key"].split("_")[1]
    assert (await platform.client.get(CASES, headers=headers)).status_code == 200
    wrong = {"X-Api-Key": headers["X-Api-Key"][:-2] + "xx"}
    reply = await platform.client.get(CASES, headers=wrong)
    assert reply.status_code == 401
    assert reply.json() == {"detail": "invalid or revoked API key", "code": "auth.invalid_api_key",
                                "params": {}}
    assert reply.headers["www-authenticate"] == "ApiKey"
    revoked = await platform.client.delete(f"/api/v1/integration/keys/{key_id}",
                                           headers=platform.admin)
    assert revoked.json()["active"] is False
    assert (await platform.client.get(CASES, headers=headers)).status_code == 401


async def test_only_admins_manage_keys_and_keys_cannot_use_staff_routes(
    platform: Platform,
) -> None:
    clerk = await platform.login("cleo")
    reply = await platform.client.post("/api/v1/integration/keys", headers=clerk,
                                       json={"name": "x", "scopes": ["cases:read"]})
    assert reply.status_code == 403
    key = await platform.key("cases:write", "cases:read", "events:read")
    assert (await platform.client.get("/api/v1/devices", headers=key)).status_code == 403
    assert (await platform.client.get("/api/v1/integration/keys",
                                      headers=key)).status_code == 403


async def test_a_key_can_do_only_what_its_scopes_say(platform: Platform) -> None:
    reader = await platform.key("cases:read")
    reply = await platform.client.put(f"{CASES}/c-1", headers=reader, json=body())
    assert reply.status_code == 403
    assert "cases:write" in reply.json()["detail"]
    assert (await platform.client.get("/api/v1/integration/events",
                                      headers=reader)).status_code == 403
    assert (await platform.client.put(f"{CASES}/c-1", json=body())).status_code == 401


# --- cases ---------------------------------------------------------------------------------------


async def test_upsert_creates_then_updates_and_is_idempotent(platform: Platform) -> None:
    key = await platform.key("cases:write", "cases:read")
    first = await platform.client.put(f"{CASES}/c-1", headers=key, json=body())
    assert first.status_code == 201, first.text
    case = first.json()
    assert case["case_id"] == "c-1"
    assert case["applicant"] == {"person_id": "p-1", "campus_card": "card-1", "name": "李雷"}
    assert case["materials"] == [{"code": "photo", "name": "证件照", "received": False}]
    assert case["visit_count"] == 0
    again = await platform.client.put(f"{CASES}/c-1", headers=key, json=body())
    assert again.status_code == 200
    assert again.json() == case
    changed = await platform.client.put(f"{CASES}/c-1", headers=key,
                                        json=body(status="in_review"))
    assert changed.json()["status"] == "in_review"
    assert changed.json()["version"] == 2

    got = await platform.client.get(f"{CASES}/c-1", headers=key)
    assert got.json() == changed.json()
    assert (await platform.client.get(f"{CASES}/nope", headers=key)).status_code == 404


async def test_cases_are_listed_by_person_and_status(platform: Platform) -> None:
    key = await platform.key("cases:write", "cases:read")
    await platform.client.put(f"{CASES}/c-1", headers=key, json=body())
    await platform.client.put(f"{CASES}/c-2", headers=key, json=body(status="resolved"))
    await platform.client.put(f"{CASES}/c-3", headers=key, json=body(
        applicant={"person_id": "p-2"}))
    listed = await platform.client.get(CASES, headers=key,
                                       params={"person_id": "p-1", "status": "awaiting_visit"})
    assert [c["case_id"] for c in listed.json()] == ["c-1"]
    # Clerks may read cases too (the window terminal shows the linked ones).
    clerk = await platform.login("cleo")
    assert len((await platform.client.get(CASES, headers=clerk)).json()) == 3
    assert (await platform.client.put(f"{CASES}/c-9", headers=clerk,
                                      json=body())).status_code == 403


@pytest.mark.parametrize(("changes", "field"), [
    ({"status": "lost"}, "status"),
    ({"applicant": {"name": "无名"}}, "applicant"),
    ({"materials": [{"code": "a", "name": "A"}, {"code": "a", "name": "A again"}]}, "body"),
    ({"materials": [{"code": "a"}]}, "name"),
    ({"appointment": {"at_ms": 100, "window_start_ms": 200}}, "appointment"),
    ({"service_code": ""}, "service_code"),
    ({"unexpected": 1}, "unexpected"),
    ({"case_id": "c-other"}, "case_id"),
    ({"status_reason": "nul\u0000byte"}, "status_reason"),
])
async def test_a_bad_body_is_a_422_naming_the_field(
    platform: Platform, changes: dict[str, Any], field: str,
) -> None:
    key = await platform.key("cases:write")
    reply = await platform.client.put(f"{CASES}/c-1", headers=key, json=body(**changes))
    assert reply.status_code == 422, reply.text
    assert any(field in [str(part) for part in error["loc"]]
               for error in reply.json()["detail"]), reply.json()
    assert platform.case_store.cases == {}


async def test_a_bad_case_id_is_a_422(platform: Platform) -> None:
    key = await platform.key("cases:write")
    reply = await platform.client.put(f"{CASES}/-bad%20id", headers=key, json=body())
    assert reply.status_code == 422


# --- the feed and the stats --------------------------------------------------------------------


async def test_the_event_feed_follows_its_cursor(platform: Platform) -> None:
    key = await platform.key("cases:write", "events:read")
    await platform.client.put(f"{CASES}/c-1", headers=key, json=body())
    await platform.cases.link_ticket("c-1", "t-1", "A001")
    await platform.cases.complete_linked("c-1", "t-1", CompletionOutcome.RESOLVED)
    first = (await platform.client.get("/api/v1/integration/events", headers=key,
                                       params={"after": 0, "limit": 2})).json()
    assert [e["type"] for e in first["events"]] == ["case.created", "case.ticket_linked"]
    rest = (await platform.client.get("/api/v1/integration/events", headers=key,
                                      params={"after": first["next_cursor"]})).json()
    assert [e["type"] for e in rest["events"]] == [
        "case.visit_recorded", "case.materials_updated", "case.status_changed",
        "case.ticket_completed"]
    assert rest["events"][-1]["data"]["status"] == "resolved"
    end = (await platform.client.get("/api/v1/integration/events", headers=key,
                                     params={"after": rest["next_cursor"]})).json()
    assert end == {"events": [], "next_cursor": rest["next_cursor"]}
    bad = await platform.client.get("/api/v1/integration/events", headers=key,
                                    params={"after": -1})
    assert bad.status_code == 422


async def test_the_one_trip_rate(platform: Platform) -> None:
    key = await platform.key("cases:write", "cases:read")
    for n in range(3):
        await platform.client.put(f"{CASES}/c-{n}", headers=key, json=body())
    await platform.cases.complete_linked("c-0", "t-0", CompletionOutcome.RESOLVED)
    await platform.cases.complete_linked("c-1", "t-1", CompletionOutcome.PENDING_MATERIALS,
                                         "缺照片")
    await platform.cases.complete_linked("c-1", "t-2", CompletionOutcome.RESOLVED)
    reply = await platform.client.get("/api/v1/integration/stats/one-trip", headers=key)
    stats = reply.json()
    assert (stats["resolved_with_visit"], stats["one_visit"], stats["rate"]) == (2, 1, 0.5)
    empty = await platform.client.get("/api/v1/integration/stats/one-trip", headers=key,
                                      params={"from": 0, "to": 1})
    assert empty.json()["rate"] is None


# --- webhooks (admin side; delivery is in tests/integration/test_webhooks_delivery.py) -------


async def test_an_admin_registers_a_webhook_and_sees_the_delivery_log(
    platform: Platform,
) -> None:
    reply = await platform.client.post("/api/v1/integration/webhooks", headers=platform.admin,
                                       json={"url": "https://platform.test/hooks/hall"})
    assert reply.status_code == 201, reply.text
    hook = reply.json()
    assert len(hook["secret"]) >= 32
    listed = (await platform.client.get("/api/v1/integration/webhooks",
                                        headers=platform.admin)).json()
    assert "secret" not in listed[0]
    key = await platform.key("cases:write", "events:read")
    await platform.client.put(f"{CASES}/c-1", headers=key, json=body())
    log = (await platform.client.get("/api/v1/integration/webhooks/deliveries",
                                     headers=key)).json()
    assert [(d["webhook_id"], d["status"], d["attempts"]) for d in log] == [
        (hook["id"], "pending", 0)]
    detail = await platform.client.get(
        f"/api/v1/integration/webhooks/deliveries/{log[0]['id']}", headers=key)
    assert detail.json()["attempt_log"] == []
    off = await platform.client.patch(f"/api/v1/integration/webhooks/{hook['id']}",
                                      headers=platform.admin, json={"active": False})
    assert off.json()["active"] is False


@pytest.mark.parametrize("webhook", [
    {"url": "ftp://platform.test/x"}, {"url": "not a url"},
    {"url": "https://platform.test/x", "secret": "short"},
])
async def test_a_bad_webhook_is_a_422(platform: Platform, webhook: dict[str, str]) -> None:
    reply = await platform.client.post("/api/v1/integration/webhooks", headers=platform.admin,
                                       json=webhook)
    assert reply.status_code == 422


@pytest.mark.parametrize(("url", "says"), [
    ("http://127.0.0.1:9/x", "(loopback): 127.0.0.1 is a loopback address"),
    ("http://169.254.169.254/", "(metadata): 169.254.169.254 is a cloud metadata address"),
    ("http://[::ffff:127.0.0.1]/", "(loopback)"),
    ("http://0.0.0.0:8000/", "(unspecified)"),
    ("https://intranet.test/hook", "(private): intranet.test resolves to 10.20.0.5, a private"),
    ("https://nowhere.test/hook", "unresolved: nowhere.test does not resolve"),
])
async def test_a_webhook_to_an_internal_or_unknown_address_is_a_422_naming_why(
    platform: Platform, url: str, says: str,
) -> None:
    reply = await platform.client.post("/api/v1/integration/webhooks", headers=platform.admin,
                                       json={"url": url})
    assert reply.status_code == 422, reply.text
    [error] = reply.json()["detail"]
    assert error["loc"] == ["body", "url"]
    assert says in error["msg"]
    listed = await platform.client.get("/api/v1/integration/webhooks", headers=platform.admin)
    assert listed.json() == []


async def test_the_docs_show_the_api_key_scheme_on_integration_routes(
    platform: Platform,
) -> None:
    paths = (await platform.client.get("/openapi.json")).json()["paths"]
    put = paths["/api/v1/integration/cases/{case_id}"]["put"]
    assert {"APIKeyHeader": []} in put["security"]
    assert paths["/api/v1/devices"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
