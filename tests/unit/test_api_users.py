"""The user routes over HTTP (memory stores): listing, disabling, role changes and one's own
password change, each revoking the user's earlier tokens; admin only where it should be."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import Role
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.unit.api_support import FAST_HASHER

PASSWORDS = {"ada": "admin-pass-1", "fay": "facilities-pass", "cleo": "clerk-pass-1"}
ROLES = {"ada": Role.ADMIN, "fay": Role.FACILITIES, "cleo": Role.CLERK}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    users = MemoryUserStore()
    for name, role in ROLES.items():
        await ensure_user(users, name, PASSWORDS[name], role, hasher=FAST_HASHER)
    app = api_app(MemoryStore(), users=users)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hall.test") as client:
        yield client


async def login(client: httpx.AsyncClient, name: str, password: str | None = None) -> dict[str, str]:
    reply = await client.post("/api/v1/auth/token",
                              data={"username": name, "password": password or PASSWORDS[name]})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


async def test_an_admin_lists_the_users_with_role_and_state(client: httpx.AsyncClient) -> None:
    reply = await client.get("/api/v1/users", headers=await login(client, "ada"))
    assert reply.status_code == 200
    assert reply.json() == [
        {"username": "ada", "role": "admin", "disabled": False},
        {"username": "cleo", "role": "clerk", "disabled": False},
        {"username": "fay", "role": "facilities", "disabled": False},
    ]


async def test_a_disabled_users_old_token_is_refused(client: httpx.AsyncClient) -> None:
    admin = await login(client, "ada")
    cleo = await login(client, "cleo")
    assert (await client.get("/api/v1/auth/me", headers=cleo)).status_code == 200

    reply = await client.post("/api/v1/users/cleo/disable", headers=admin)
    assert reply.status_code == 200
    assert reply.json() == {"username": "cleo", "role": "clerk", "disabled": True}
    refused = await client.get("/api/v1/auth/me", headers=cleo)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]

    # Re-enabled: a new login works, the old token stays refused.
    assert (await client.post("/api/v1/users/cleo/enable", headers=admin)).status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=cleo)).status_code == 401
    fresh = await login(client, "cleo")
    assert (await client.get("/api/v1/auth/me", headers=fresh)).status_code == 200


async def test_a_role_change_revokes_the_old_tokens(client: httpx.AsyncClient) -> None:
    admin = await login(client, "ada")
    fay = await login(client, "fay")
    reply = await client.put("/api/v1/users/fay/role", headers=admin, json={"role": "clerk"})
    assert reply.status_code == 200
    assert reply.json()["role"] == "clerk"
    assert (await client.get("/api/v1/devices", headers=fay)).status_code == 401
    me = await client.get("/api/v1/auth/me", headers=await login(client, "fay"))
    assert me.json()["role"] == "clerk"


async def test_an_admin_cannot_lock_themself_out(client: httpx.AsyncClient) -> None:
    admin = await login(client, "ada")
    disable = await client.post("/api/v1/users/ada/disable", headers=admin)
    assert disable.status_code == 409
    demote = await client.put("/api/v1/users/ada/role", headers=admin, json={"role": "clerk"})
    assert demote.status_code == 409
    assert (await client.get("/api/v1/auth/me", headers=admin)).json()["role"] == "admin"


async def test_unknown_users_and_bad_roles(client: httpx.AsyncClient) -> None:
    admin = await login(client, "ada")
    assert (await client.post("/api/v1/users/ghost/disable", headers=admin)).status_code == 404
    bad = await client.put("/api/v1/users/cleo/role", headers=admin, json={"role": "root"})
    assert bad.status_code == 422


async def test_own_password_change_needs_the_current_one_and_revokes_other_tokens(
        client: httpx.AsyncClient) -> None:
    elsewhere = await login(client, "cleo")
    here = await login(client, "cleo")
    wrong = await client.post("/api/v1/auth/password", headers=here, json={
        "current_password": "not-the-password", "new_password": "a-better-pass-2"})
    assert wrong.status_code == 403
    assert (await client.get("/api/v1/auth/me", headers=elsewhere)).status_code == 200

    weak = await client.post("/api/v1/auth/password", headers=here, json={
        "current_password": PASSWORDS["cleo"], "new_password": "my-CLEO-pass"})
    assert weak.status_code == 422
    assert "username" in weak.json()["detail"]
    short = await client.post("/api/v1/auth/password", headers=here, json={
        "current_password": PASSWORDS["cleo"], "new_password": "short-pw1"})
    assert short.status_code == 422

    changed = await client.post("/api/v1/auth/password", headers=here, json={
        "current_password": PASSWORDS["cleo"], "new_password": "a-better-pass-2"})
    assert changed.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=elsewhere)).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=here)).status_code == 401
    new = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=new)).status_code == 200
    old_login = await client.post("/api/v1/auth/token", data={"username": "cleo",
                                                               "password": PASSWORDS["cleo"]})
    assert old_login.status_code == 401
    await login(client, "cleo", "a-better-pass-2")


@pytest.mark.parametrize("name", ["fay", "cleo"])
async def test_non_admins_get_403_on_the_admin_routes(client: httpx.AsyncClient,
                                                      name: str) -> None:
    headers = await login(client, name)
    assert (await client.get("/api/v1/users", headers=headers)).status_code == 403
    assert (await client.post("/api/v1/users/ada/disable", headers=headers)).status_code == 403
    assert (await client.post("/api/v1/users/cleo/enable", headers=headers)).status_code == 403
    assert (await client.put("/api/v1/users/ada/role", headers=headers,
                             json={"role": "clerk"})).status_code == 403
    # Their own password is theirs to change.
    reply = await client.post("/api/v1/auth/password", headers=headers, json={
        "current_password": PASSWORDS[name], "new_password": "a-better-pass-2"})
    assert reply.status_code == 200


async def test_the_user_routes_need_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/users")).status_code == 401
    assert (await client.post("/api/v1/auth/password", json={
        "current_password": "x", "new_password": "a-better-pass-2"})).status_code == 401
