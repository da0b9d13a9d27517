"""The provisioning routes over HTTP (memory stores): admin only; the bundle once, as the
config ``hall edge`` reads; revoke and rekey; the listing never shows a secret."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator

import httpx
import pytest

from hall_controller.fleet.memory_provisioning import MemoryProvisioningStore
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.provisioning import ProvisioningService, verify_mqtt_password
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.unit.api_support import FAST_HASHER
from tests.unit.test_api_users import PASSWORDS, ROLES, login

URL = "/api/v1/provisioning"


@pytest.fixture
def credentials() -> MemoryProvisioningStore:
    return MemoryProvisioningStore()


@pytest.fixture
async def client(credentials: MemoryProvisioningStore) -> AsyncIterator[httpx.AsyncClient]:
    users = MemoryUserStore()
    for name, role in ROLES.items():
        await ensure_user(users, name, PASSWORDS[name], role, hasher=FAST_HASHER)
    provisioning = ProvisioningService(credentials, iterations=50,
                                       broker_url="mqtt://broker.campus:1883")
    app = api_app(MemoryStore(), provisioning, users=users)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hall.test") as client:
        yield client


async def test_only_an_admin_provisions_and_the_bundle_is_what_hall_edge_reads(
        client: httpx.AsyncClient, credentials: MemoryProvisioningStore) -> None:
    body = {"device_id": "lock-b3-0412", "kind": "door_lock", "site": "dorm-3"}
    for name in ("fay", "cleo"):
        refused = await client.post(URL, json=body, headers=await login(client, name))
        assert refused.status_code == 403
    assert (await client.post(URL, json=body)).status_code == 401
    assert credentials.credentials == {}

    admin = await login(client, "ada")
    reply = await client.post(URL, json=body, headers=admin)
    assert reply.status_code == 201, reply.text
    bundle = reply.json()
    config = tomllib.loads(bundle["toml"])
    assert config["mqtt"]["url"] == (f"mqtt://lock-b3-0412:{bundle['password']}"
                                     "@broker.campus:1883")
    assert config["edge"] == {"device_id": "lock-b3-0412", "kind": "door_lock",
                              "site": "dorm-3", "command_key": bundle["command_key"]}
    stored = credentials.credentials["lock-b3-0412"]
    assert verify_mqtt_password(bundle["password"], stored.password_hash)
    assert stored.created_by == "user:ada"

    again = await client.post(URL, json=body, headers=admin)
    assert again.status_code == 409
    listing = await client.get(URL, headers=admin)
    assert [d["device_id"] for d in listing.json()] == ["lock-b3-0412"]
    assert bundle["password"] not in listing.text and bundle["command_key"] not in listing.text
    assert "password" not in listing.text and "command_key" not in listing.text


async def test_rekey_and_revoke(client: httpx.AsyncClient,
                                credentials: MemoryProvisioningStore) -> None:
    admin = await login(client, "ada")
    first = (await client.post(URL, json={"device_id": "gate-1", "kind": "face_gate"},
                               headers=admin)).json()
    assert (await client.post(f"{URL}/gate-1/rekey",
                              headers=await login(client, "fay"))).status_code == 403
    second = await client.post(f"{URL}/gate-1/rekey", headers=admin)
    assert second.status_code == 200
    assert second.json()["password"] != first["password"]
    assert not verify_mqtt_password(first["password"],
                                    credentials.credentials["gate-1"].password_hash)

    revoked = await client.post(f"{URL}/gate-1/revoke", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_by"] == "user:ada"
    assert (await client.post(f"{URL}/gate-1/rekey", headers=admin)).status_code == 409
    assert (await client.post(f"{URL}/nobody/revoke", headers=admin)).status_code == 404


@pytest.mark.parametrize("body", [
    {"device_id": "Gate 1", "kind": "face_gate"},
    {"device_id": "gate-1", "kind": "toaster"},
    {"device_id": "gate-1", "kind": "face_gate", "site": "x" * 101},
    {"device_id": "gate-1", "kind": "face_gate", "extra": 1},
    {"device_id": "gate-1", "kind": "face_gate", "site": "hall\u0000"},
    {"device_id": "hall-controller", "kind": "kiosk"},
])
async def test_bad_provisioning_requests_are_refused(
        client: httpx.AsyncClient, credentials: MemoryProvisioningStore,
        body: dict[str, object]) -> None:
    reply = await client.post(URL, json=body, headers=await login(client, "ada"))
    assert reply.status_code == 422, reply.text
    assert credentials.credentials == {}
