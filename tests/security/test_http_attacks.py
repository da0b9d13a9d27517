"""Attacks on the HTTP API and on what the controller believes, against a running ``hall
controller`` (real uvicorn, the composition root, the real PostgreSQL and broker). Each test is
one attack and the refusal a person would notice: the status code the attacker gets, and the
alarm or audit entry staff read.

The controller reads a config of its own (``CONFIG``): a 1 s body timeout, so the slow-body
attack is answered quickly, and a 4 s first lockout, so the growth of lockouts shows without
minutes of waiting. The per-address login limit is raised so that one test's failures do not
lock another test out; the brute-force test tries one account.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.hall_process import PASSWORD, ShellDevice
from tests.support.live_api import LiveApi, running_live_api
from tests.support.raw_http import login_head, raw_exchange
from tests.support.waiting import eventually_blocking

pytestmark = pytest.mark.integration

CONFIG = """
[http]
body_timeout_s = 1

[auth.login]
lockout_base_s = 4
max_failures_per_user = 5
max_failures_per_address = 1000
"""
USER_LIMIT = 5


@pytest.fixture(scope="module")
def hall(session_broker_url: str, pg_server_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with running_live_api(session_broker_url, pg_server_url,
                          tmp_path_factory.mktemp("security-http"), config_toml=CONFIG) as api:
        yield api


def login(hall: LiveApi, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{hall.api}/auth/token", timeout=30,
                      data={"username": username, "password": password})


def as_token(hall: LiveApi, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{hall.api}{path}", timeout=30,
                         headers={"Authorization": f"Bearer {token}"}, **kwargs)


def controller_alarm(hall: LiveApi, device_id: str, alarm_type: str) -> dict[str, Any] | None:
    alarms = hall.request("GET", "/alarms", params={"device_id": device_id})
    assert alarms.status_code == 200, alarms.text
    return next((a for a in alarms.json() if a["type"] == alarm_type), None)


def new_user(hall: LiveApi, role: str = "clerk") -> str:
    username = f"sec-{uuid.uuid4().hex[:8]}"
    created = hall.request("POST", "/users", json={"username": username, "password": PASSWORD,
                                                   "role": role})
    assert created.status_code == 201, created.text
    return username


def test_login_brute_force_locks_the_account_for_longer_each_time_and_raises_an_alarm(
        hall: LiveApi) -> None:
    victim = new_user(hall)
    for _ in range(USER_LIMIT):
        assert login(hall, victim, "guess-123456").status_code == 401
    first = login(hall, victim, PASSWORD)
    assert first.status_code == 429, "locked: even the right password is refused"
    first_wait = int(first.headers["retry-after"])
    assert 1 <= first_wait <= 4
    alarm = controller_alarm(hall, "controller", "auth.lockout")
    assert alarm is not None and alarm["status"] == "active"
    assert {k: alarm["details"][k] for k in ("locked", "username", "client", "lockout")} == {
        "locked": "user", "username": victim, "client": "127.0.0.1", "lockout": 1}

    # The attacker waits the lockout out and goes on: the first failure after it is a 401...
    eventually_blocking(lambda: login(hall, victim, "guess-after").status_code == 401,
                        timeout_s=15, what="the first lockout to end")
    for _ in range(USER_LIMIT - 1):
        login(hall, victim, "guess-again")
    # ... and the next lockout is twice as long (8 s: longer than the whole first one),
    # counted on the same alarm.
    second = login(hall, victim, PASSWORD)
    assert second.status_code == 429
    assert 4 < int(second.headers["retry-after"]) <= 8
    alarm = controller_alarm(hall, "controller", "auth.lockout")
    assert alarm is not None
    assert (alarm["details"]["username"], alarm["details"]["lockout"]) == (victim, 2)
    assert alarm["count"] >= 2


async def test_an_oversized_body_is_refused_before_authentication_reads_it(
        hall: LiveApi) -> None:
    port = hall.process.port
    # 50 MiB announced, nothing sent: the answer comes at once, without the body.
    status, headers, _ = await raw_exchange(port, login_head(f"Content-Length: {50 * 1024**2}"))
    assert (status, headers["connection"]) == (413, "close")
    # A route that needs a login answers 413 too, not 401: the size is checked first.
    status, _, _ = await raw_exchange(port, (
        "POST /api/v1/users HTTP/1.1\nHost: hall\nContent-Type: application/json\n"
        f"Content-Length: {50 * 1024**2}\n"))
    assert status == 413


async def test_a_body_that_trickles_in_gets_408_and_the_connection_is_closed(
        hall: LiveApi) -> None:
    status, headers, _ = await raw_exchange(
        hall.process.port, login_head("Content-Length: 100"), b"username=adm")
    assert (status, headers["connection"]) == (408, "close")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook",                          # the controller's own machine
    "http://169.254.169.254/latest/meta-data/",       # a cloud's metadata service
])
def test_a_webhook_to_an_internal_address_is_refused_at_registration(
        hall: LiveApi, url: str) -> None:
    refused = hall.request("POST", "/integration/webhooks", json={"url": url})
    assert refused.status_code == 422, refused.text
    assert "webhook destination refused" in refused.text
    assert url not in [w["url"] for w in hall.request("GET", "/integration/webhooks").json()]


def test_a_revoked_kiosk_key_is_refused(hall: LiveApi) -> None:
    created = hall.request("POST", "/kiosk/keys", json={"device_id": "kiosk-stolen-1"})
    assert created.status_code == 201, created.text
    stolen = {"X-Kiosk-Device": "kiosk-stolen-1", "X-Kiosk-Key": created.json()["kiosk_key"]}

    def take() -> httpx.Response:
        return httpx.post(f"{hall.api}/kiosk/tickets", headers=stolen, timeout=30,
                          json={"service": "student-id", "request_id": str(uuid.uuid4())})
    assert take().status_code == 200
    revoked = hall.request("DELETE", f"/kiosk/keys/{created.json()['key_id']}")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    refused = take()
    assert refused.status_code == 401
    assert "kiosk key" in refused.json()["detail"]
    # Not for another kiosk's id either: a key works for the device it was made for only.
    other = hall.request("POST", "/kiosk/keys", json={"device_id": "kiosk-other-1"}).json()
    borrowed = httpx.get(f"{hall.api}/kiosk/services", timeout=30, headers={
        "X-Kiosk-Device": "kiosk-stolen-1", "X-Kiosk-Key": other["kiosk_key"]})
    assert borrowed.status_code == 401


def test_the_token_of_a_disabled_user_is_refused_on_the_next_request(hall: LiveApi) -> None:
    username = new_user(hall)
    token = login(hall, username, PASSWORD).json()["access_token"]
    assert as_token(hall, token, "GET", "/auth/me").status_code == 200
    assert hall.request("POST", f"/users/{username}/disable").status_code == 200
    assert as_token(hall, token, "GET", "/auth/me").status_code == 401
    assert login(hall, username, PASSWORD).status_code != 200


def test_a_token_issued_before_a_password_change_is_refused(hall: LiveApi) -> None:
    username = new_user(hall)
    stolen = login(hall, username, PASSWORD).json()["access_token"]
    changed = as_token(hall, stolen, "POST", "/auth/password", json={
        "current_password": PASSWORD, "new_password": "a-new-secret-pass-9"})
    assert changed.status_code == 200, changed.text
    assert as_token(hall, stolen, "GET", "/auth/me").status_code == 401
    fresh = changed.json()["access_token"]
    assert as_token(hall, fresh, "GET", "/auth/me").status_code == 200


def test_a_forged_grant_from_an_anonymous_client_is_audited_as_suspicious_and_alarmed(
        hall: LiveApi) -> None:
    # Anything that reaches the broker can speak as a gate: mosquitto_pub, no credentials.
    gate = ShellDevice(hall.process.mqtt_url, hall.process.prefix, "gate-forged-1", "face_gate")
    gate.publish("state", {"online": True, "session": 1, "kind": "face_gate", "model": "shell",
                           "fw": "1.0", "ts": int(time.time() * 1000)}, retain=True)
    try:
        eventually_blocking(
            lambda: hall.request("GET", "/devices/gate-forged-1").status_code == 200,
            timeout_s=15, what="the gate known to the controller")
        forged = str(uuid.uuid4())
        gate.publish("event", {"id": forged, "ts": int(time.time() * 1000),
                               "type": "access.granted",
                               "data": {"method": "face", "person_id": "nobody-0000",
                                        "reason": "allowed"}})

        def suspicious() -> list[dict[str, Any]]:
            page = hall.request("GET", "/access/audit", params={"device_id": "gate-forged-1"})
            assert page.status_code == 200, page.text
            return [e for e in page.json()["items"] if e["outcome"] == "suspicious"]
        [entry] = eventually_blocking(suspicious, timeout_s=15,
                                      what="the forged grant audited as suspicious")
        assert entry["person_id"] == "nobody-0000"
        assert entry["details"]["event_id"] == forged
        alarm = controller_alarm(hall, "gate-forged-1", "access.suspicious_grant")
        assert alarm is not None and alarm["status"] == "active"
        assert (alarm["details"]["person_id"], alarm["details"]["reason"]) == (
            "nobody-0000", "unknown_person")
    finally:
        gate.clear_retained()
