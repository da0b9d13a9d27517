"""Login brute force against a running ``hall controller`` (real uvicorn, the composition root,
the real PostgreSQL): the user is locked out with 429 and Retry-After, the lockout is the
``auth.lockout`` alarm staff read from the API, and a client cannot dodge the per-address
count by naming other addresses in ``X-Forwarded-For`` (no proxy is trusted by default).

The module's controller ends with 127.0.0.1 locked out: its tests run in file order, and none
logs in after the last one.
"""

from __future__ import annotations

import httpx

from tests.support.live_api import ADMIN_PASSWORD, LiveApi, live_api

__all__ = ["live_api"]  # a fixture, imported to be found

DEFAULT_USER_LIMIT = 5
DEFAULT_ADDRESS_LIMIT = 20


def login(api: LiveApi, username: str, password: str,
          headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{api.api}/auth/token", data={"username": username, "password": password},
                      headers=headers, timeout=30)


def test_a_brute_forced_user_is_locked_out_and_an_alarm_says_so(live_api: LiveApi) -> None:
    # The admin's token was issued when the module started, before any of this.
    for _ in range(DEFAULT_USER_LIMIT):
        assert login(live_api, "admin", "not-the-password").status_code == 401
    refused = login(live_api, "admin", ADMIN_PASSWORD)
    assert refused.status_code == 429, refused.text
    assert 55 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["detail"].startswith("too many failed logins")

    alarms = live_api.request("GET", "/alarms", params={"device_id": "controller"})
    assert alarms.status_code == 200, alarms.text
    [alarm] = [a for a in alarms.json() if a["type"] == "auth.lockout"]
    assert alarm["status"] == "active"
    assert {k: alarm["details"][k] for k in ("locked", "username", "client", "failures")} == {
        "locked": "user", "username": "admin", "client": "127.0.0.1",
        "failures": DEFAULT_USER_LIMIT}


def test_forwarded_for_headers_do_not_split_the_address_count(live_api: LiveApi) -> None:
    codes = []
    for n in range(DEFAULT_ADDRESS_LIMIT + 1):
        # A new name and a new claimed address each time: only the TCP peer counts.
        reply = login(live_api, f"sprayed-{n}", "Winter2026!",
                      headers={"X-Forwarded-For": f"203.0.113.{n}", "X-Real-IP": f"203.0.113.{n}"})
        codes.append(reply.status_code)
    assert set(codes) <= {401, 429}
    # The previous test's five failures came from 127.0.0.1 too: the address locks at the
    # twentieth failure in all, and stays locked whatever the headers say.
    assert codes.index(429) == DEFAULT_ADDRESS_LIMIT - DEFAULT_USER_LIMIT
    assert codes[-1] == 429
