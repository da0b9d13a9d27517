"""The HTTP API over MemoryStore: what a clerk, facilities staff or an admin would see."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import httpx
import jwt
import pytest

from devices.kinds import DeviceKind
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import (
    AlarmSeverity,
    CommandStatus,
    DeadLetter,
    DeviceEvent,
    DeviceRecord,
    IngestBatch,
    Role,
    TelemetryPoint,
)
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.unit.api_support import (
    FAST_HASHER,
    SECRET,
    FakeCommandSender,
    FakeHealth,
)

NOW = int(time.time() * 1000)
PASSWORDS = {"ada": "admin-pass-1", "fay": "facilities-pass", "cleo": "clerk-pass-1"}


@dataclass
class Hall:
    client: httpx.AsyncClient
    store: MemoryStore
    users: MemoryUserStore
    commands: FakeCommandSender
    health: FakeHealth

    async def token(self, username: str) -> str:
        reply = await self.client.post("/api/v1/auth/token",
                                       data={"username": username, "password": PASSWORDS[username]})
        assert reply.status_code == 200, reply.text
        token: str = reply.json()["access_token"]
        return token

    async def as_user(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(username)}"}


async def seed(store: MemoryStore, users: MemoryUserStore) -> None:
    await store.upsert_devices([
        DeviceRecord("kiosk-1", DeviceKind.KIOSK, model="k2", fw="1.2.0", site="main-hall",
                     online=True, session=3, first_seen_ms=NOW - 86_400_000,
                     last_seen_ms=NOW - 1_000, online_since_ms=NOW - 60_000),
        DeviceRecord("door-7", DeviceKind.DOOR_LOCK, model="l1", fw="0.9", site="dorm-3",
                     online=False, session=1, first_seen_ms=NOW - 86_400_000,
                     last_seen_ms=NOW - 600_000, offline_reason="will"),
    ])
    telemetry = [
        TelemetryPoint("kiosk-1", NOW - 3_000_000 + i * 60_000, "temp_c", 20.0 + i)
        for i in range(10)
    ] + [TelemetryPoint("kiosk-1", NOW - 2_000, "paper_ok", True),
         TelemetryPoint("door-7", NOW - 700_000, "battery_pct", 41)]
    events = [
        DeviceEvent(f"00000000-0000-4000-8000-00000000000{i}", "door-7", NOW - 900_000 + i * 1_000,
                    "door.opened", {"n": i}, NOW - 900_000 + i * 1_000)
        for i in range(3)
    ]
    dead = [
        DeadLetter(NOW - 5_000, "hall/v1/dev/kiosk-1/telemetry", "kiosk-1", "invalid_json: line 1",
                   b"{nope", 5),
        DeadLetter(NOW - 4_000, "hall/v1/dev/kiosk-1/telemetry", "kiosk-1", "invalid_json: line 2",
                   b"{{", 2),
        DeadLetter(NOW - 3_000, "hall/v1/dev/door-7/event", "door-7", "too_large", b"x" * 10,
                   99_999),
    ]
    await store.commit_batch(IngestBatch(telemetry=telemetry, events=events, dead_letters=dead))
    await store.raise_alarm("door-7", "battery.low", AlarmSeverity.MAJOR, {"battery_pct": 41},
                            NOW - 650_000)
    await store.raise_alarm("kiosk-1", "paper.low", AlarmSeverity.MINOR, {}, NOW - 10_000)
    for username, role in (("ada", Role.ADMIN), ("fay", Role.FACILITIES), ("cleo", Role.CLERK)):
        await ensure_user(users, username, PASSWORDS[username], role, hasher=FAST_HASHER)


@pytest.fixture
async def hall() -> AsyncIterator[Hall]:
    store = MemoryStore()
    users = MemoryUserStore()
    await seed(store, users)
    commands = FakeCommandSender(store)
    health = FakeHealth()
    app = api_app(store, commands=commands, health=health, users=users)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hall.test") as client:
        yield Hall(client, store, users, commands, health)


# --- logging in -------------------------------------------------------------------------------


async def test_login_with_the_right_password_returns_a_bearer_token(hall: Hall) -> None:
    reply = await hall.client.post("/api/v1/auth/token",
                                   data={"username": "fay", "password": "facilities-pass"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "bearer"
    assert body["role"] == "facilities"
    assert body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], issuer="campus-hall")
    assert claims["sub"] == "fay"
    assert claims["role"] == "facilities"

    me = await hall.client.get("/api/v1/auth/me",
                               headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json() == {"username": "fay", "role": "facilities", "kind": "user",
                         "signed_on": False, "person_kind": None, "person_id": None}


async def test_wrong_password_and_unknown_user_get_the_same_401(hall: Hall) -> None:
    wrong = await hall.client.post("/api/v1/auth/token",
                                   data={"username": "fay", "password": "not-her-password"})
    unknown = await hall.client.post("/api/v1/auth/token",
                                     data={"username": "nobody", "password": "whatever-1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "incorrect username or password",
                                             "code": "auth.invalid_credentials", "params": {}}
    assert wrong.headers["www-authenticate"].startswith("Bearer")


async def test_login_without_form_fields_is_422_naming_the_field(hall: Hall) -> None:
    reply = await hall.client.post("/api/v1/auth/token", data={"username": "fay"})
    assert reply.status_code == 422
    assert any(err["loc"][-1] == "password" for err in reply.json()["detail"])


async def test_a_disabled_user_cannot_log_in_and_their_token_stops_working(hall: Hall) -> None:
    headers = await hall.as_user("cleo")
    user = await hall.users.get_user("cleo")
    assert user is not None
    await hall.users.upsert_user(type(user)(user.username, user.password_hash, user.role,
                                            disabled=True))

    login = await hall.client.post("/api/v1/auth/token",
                                   data={"username": "cleo", "password": "clerk-pass-1"})
    assert login.status_code == 403
    assert login.json() == {"detail": "this account is disabled", "code": "auth.account_disabled",
                            "params": {}}
    assert (await hall.client.get("/api/v1/devices", headers=headers)).status_code == 403


async def test_a_demotion_applies_to_tokens_already_issued(hall: Hall) -> None:
    headers = await hall.as_user("fay")
    # Changed in the store alone (the token version stays): the stored role still wins.
    user = await hall.users.get_user("fay")
    assert user is not None
    await hall.users.upsert_user(replace(user, role=Role.CLERK))
    alarm = (await hall.store.list_alarms())[0]
    reply = await hall.client.post(f"/api/v1/alarms/{alarm.id}/ack", headers=headers)
    assert reply.status_code == 403


async def test_requests_without_a_valid_token_are_401(hall: Hall) -> None:
    for path in ("/api/v1/devices", "/api/v1/alarms", "/api/v1/auth/me", "/api/v1/dead-letters",
                 "/api/v1/devices/kiosk-1/telemetry?metric=temp_c"):
        reply = await hall.client.get(path)
        assert reply.status_code == 401, path
        assert reply.headers["www-authenticate"].startswith("Bearer")
        assert "not authenticated" in reply.json()["detail"]

    garbage = await hall.client.get("/api/v1/devices", headers={"Authorization": "Bearer nope"})
    assert garbage.status_code == 401
    assert garbage.json() == {"detail": "invalid token", "code": "auth.invalid_token", "params": {}}

    forged = jwt.encode({"sub": "ada", "role": "admin", "ver": 0, "iat": 0, "exp": int(time.time()) + 60,
                         "iss": "campus-hall"}, "another-secret-of-sufficient-length!!",
                        algorithm="HS256")
    reply = await hall.client.get("/api/v1/devices", headers={"Authorization": f"Bearer {forged}"})
    assert reply.status_code == 401

    expired = jwt.encode({"sub": "ada", "role": "admin", "ver": 0, "iat": 0,
                          "exp": int(time.time()) - 120,
                          "iss": "campus-hall"}, SECRET, algorithm="HS256")
    reply = await hall.client.get("/api/v1/devices", headers={"Authorization": f"Bearer {expired}"})
    assert reply.status_code == 401
    assert "expired" in reply.json()["detail"]

    unsigned = jwt.encode({"sub": "ada", "role": "admin", "ver": 0, "iat": 0,
                           "exp": int(time.time()) + 60, "iss": "campus-hall"}, None,
                          algorithm="none")
    reply = await hall.client.get("/api/v1/devices",
                                  headers={"Authorization": f"Bearer {unsigned}"})
    assert reply.status_code == 401


# --- users ------------------------------------------------------------------------------------


async def test_an_admin_creates_a_user_who_can_then_log_in(hall: Hall) -> None:
    admin = await hall.as_user("ada")
    reply = await hall.client.post("/api/v1/users", headers=admin,
                                   json={"username": "wen", "password": "window-3-pass",
                                         "role": "clerk"})
    assert reply.status_code == 201
    assert reply.json() == {"username": "wen", "role": "clerk", "disabled": False}
    stored = await hall.users.get_user("wen")
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")  # never the password itself

    login = await hall.client.post("/api/v1/auth/token",
                                   data={"username": "wen", "password": "window-3-pass"})
    assert login.status_code == 200
    assert login.json()["role"] == "clerk"

    again = await hall.client.post("/api/v1/users", headers=admin,
                                   json={"username": "wen", "password": "window-3-pass",
                                         "role": "clerk"})
    assert again.status_code == 409


async def test_creating_users_is_for_admins_and_checks_the_password(hall: Hall) -> None:
    body = {"username": "wen", "password": "window-3-pass", "role": "clerk"}
    facilities = await hall.as_user("fay")
    refused = await hall.client.post("/api/v1/users", headers=facilities, json=body)
    assert refused.status_code == 403

    admin = await hall.as_user("ada")
    short = await hall.client.post("/api/v1/users", headers=admin,
                                   json=body | {"password": "short"})
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["body", "password"]
    bad_role = await hall.client.post("/api/v1/users", headers=admin, json=body | {"role": "root"})
    assert bad_role.status_code == 422
    assert bad_role.json()["detail"][0]["loc"] == ["body", "role"]


# --- health -----------------------------------------------------------------------------------


async def test_health_needs_no_login_and_says_503_when_degraded(hall: Hall) -> None:
    ok = await hall.client.get("/api/v1/health")
    assert ok.status_code == 200
    assert ok.json()["status"] == "ok"
    assert ok.json()["counters"] == {"telemetry_points": 7}

    hall.health.status = "degraded"
    degraded = await hall.client.get("/api/v1/health")
    assert degraded.status_code == 503
    assert degraded.json()["status"] == "degraded"


# --- devices ----------------------------------------------------------------------------------


async def test_the_device_list_shows_presence_and_latest_values(hall: Hall) -> None:
    reply = await hall.client.get("/api/v1/devices", headers=await hall.as_user("cleo"))
    assert reply.status_code == 200
    devices = {d["device_id"]: d for d in reply.json()}
    assert set(devices) == {"kiosk-1", "door-7"}
    kiosk = devices["kiosk-1"]
    assert kiosk["online"] is True
    assert kiosk["online_since_ms"] == NOW - 60_000
    assert kiosk["latest"]["temp_c"] == {"value": 29.0, "ts_ms": NOW - 3_000_000 + 9 * 60_000}
    assert kiosk["latest"]["paper_ok"] == {"value": True, "ts_ms": NOW - 2_000}
    door = devices["door-7"]
    assert door["online"] is False
    assert door["offline_reason"] == "will"
    assert door["latest"]["battery_pct"]["value"] == 41


async def test_the_device_list_filters(hall: Hall) -> None:
    headers = await hall.as_user("fay")

    async def ids(query: str) -> list[str]:
        reply = await hall.client.get(f"/api/v1/devices?{query}", headers=headers)
        assert reply.status_code == 200, reply.text
        return sorted(d["device_id"] for d in reply.json())

    assert await ids("kind=door_lock") == ["door-7"]
    assert await ids("online=true") == ["kiosk-1"]
    assert await ids("online=false&site=dorm-3") == ["door-7"]
    assert await ids("site=nowhere") == []
    bad = await hall.client.get("/api/v1/devices?kind=toaster", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "kind"]


async def test_one_device_comes_with_its_active_alarms(hall: Hall) -> None:
    reply = await hall.client.get("/api/v1/devices/door-7", headers=await hall.as_user("cleo"))
    assert reply.status_code == 200
    body = reply.json()
    assert body["kind"] == "door_lock"
    assert [a["type"] for a in body["active_alarms"]] == ["battery.low"]
    assert body["active_alarms"][0]["severity"] == "major"


async def test_an_unknown_device_is_404_and_a_malformed_id_422(hall: Hall) -> None:
    headers = await hall.as_user("ada")
    for path in ("/api/v1/devices/ghost-1", "/api/v1/devices/ghost-1/telemetry?metric=temp_c",
                 "/api/v1/devices/ghost-1/events", "/api/v1/devices/ghost-1/commands"):
        reply = await hall.client.get(path, headers=headers)
        assert reply.status_code == 404, path
        assert reply.json() == {"detail": "unknown device 'ghost-1'", "code": "device.unknown",
                                "params": {"device": "ghost-1"}}
    reply = await hall.client.get("/api/v1/devices/Not_An_Id", headers=headers)
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["path", "device_id"]


# --- telemetry --------------------------------------------------------------------------------


async def test_telemetry_comes_in_buckets(hall: Hall) -> None:
    start = NOW - 3_000_000
    reply = await hall.client.get(
        f"/api/v1/devices/kiosk-1/telemetry?metric=temp_c&from_ms={start}&to_ms={NOW}&bucket_s=300",
        headers=await hall.as_user("cleo"),
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["metric"], body["from_ms"], body["to_ms"], body["bucket_s"]) == (
        "temp_c", start, NOW, 300)
    buckets = body["buckets"]
    assert sum(b["count"] for b in buckets) == 10
    assert min(b["min"] for b in buckets) == 20.0
    assert max(b["max"] for b in buckets) == 29.0
    starts = [b["bucket_start_ms"] for b in buckets]
    assert starts == sorted(starts)


async def test_telemetry_defaults_to_the_last_hour_by_minute(hall: Hall) -> None:
    reply = await hall.client.get("/api/v1/devices/kiosk-1/telemetry?metric=temp_c",
                                  headers=await hall.as_user("cleo"))
    assert reply.status_code == 200
    body = reply.json()
    assert body["bucket_s"] == 60
    assert body["to_ms"] - body["from_ms"] == 3_600_000
    assert sum(b["count"] for b in body["buckets"]) == 10


@pytest.mark.parametrize(("query", "field", "words"), [
    ("", "metric", "required"),
    ("metric=temp_c&from_ms=2000&to_ms=1000", "from_ms", "must be before to_ms"),
    ("metric=temp_c&from_ms=1000&to_ms=1000", "from_ms", "must be before to_ms"),
    ("metric=temp_c&bucket_s=0", "bucket_s", "greater than or equal to 1"),
    ("metric=temp_c&from_ms=0&to_ms=86400000&bucket_s=1", "bucket_s", "at most 10000"),
    ("metric=temp_c&from_ms=yesterday", "from_ms", "integer"),
    ("metric=drop%20table", "metric", "pattern"),
])
async def test_telemetry_queries_are_validated_with_a_readable_422(
    hall: Hall, query: str, field: str, words: str,
) -> None:
    reply = await hall.client.get(f"/api/v1/devices/kiosk-1/telemetry?{query}",
                                  headers=await hall.as_user("cleo"))
    assert reply.status_code == 422
    errors = reply.json()["detail"]
    assert errors[0]["loc"] == ["query", field]
    assert words in errors[0]["msg"]


async def test_exactly_10000_buckets_is_allowed(hall: Hall) -> None:
    reply = await hall.client.get(
        "/api/v1/devices/kiosk-1/telemetry?metric=temp_c&from_ms=0&to_ms=10000000&bucket_s=1",
        headers=await hall.as_user("cleo"))
    assert reply.status_code == 200


# --- events -----------------------------------------------------------------------------------


async def test_events_are_newest_first_and_for_facilities(hall: Hall) -> None:
    reply = await hall.client.get("/api/v1/devices/door-7/events?limit=2",
                                  headers=await hall.as_user("fay"))
    assert reply.status_code == 200
    events = reply.json()
    assert [e["data"]["n"] for e in events] == [2, 1]
    assert events[0]["type"] == "door.opened"
    assert events[0]["event_id"] == "00000000-0000-4000-8000-000000000002"

    older = await hall.client.get(
        f"/api/v1/devices/door-7/events?before_ms={events[-1]['ts_ms']}",
        headers=await hall.as_user("fay"))
    assert [e["data"]["n"] for e in older.json()] == [0]

    clerk = await hall.client.get("/api/v1/devices/door-7/events",
                                  headers=await hall.as_user("cleo"))
    assert clerk.status_code == 403


# --- commands ---------------------------------------------------------------------------------


async def test_a_command_carries_the_users_name_and_returns_its_outcome(hall: Hall) -> None:
    reply = await hall.client.post(
        "/api/v1/devices/kiosk-1/commands", headers=await hall.as_user("fay"),
        json={"method": "printer.reset", "params": {"hard": True}, "timeout_s": 5},
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "succeeded"
    assert body["requested_by"] == "fay"
    assert body["result"] == {"done": True}
    [sent] = hall.commands.sent
    assert (sent.device_id, sent.method, sent.params, sent.requested_by, sent.wait,
            sent.timeout_s) == ("kiosk-1", "printer.reset", {"hard": True}, "fay", True, 5.0)


async def test_a_failed_command_says_why(hall: Hall) -> None:
    hall.commands.outcome = CommandStatus.FAILED
    reply = await hall.client.post("/api/v1/devices/kiosk-1/commands",
                                   headers=await hall.as_user("ada"),
                                   json={"method": "printer.reset"})
    assert reply.status_code == 200
    assert reply.json()["status"] == "failed"
    assert reply.json()["error"] == {"code": "jammed", "message": "bolt jammed"}


async def test_a_command_not_waited_for_is_202_sent(hall: Hall) -> None:
    reply = await hall.client.post("/api/v1/devices/kiosk-1/commands",
                                   headers=await hall.as_user("fay"),
                                   json={"method": "display.reboot", "wait": False})
    assert reply.status_code == 202
    assert reply.json()["status"] == "sent"
    assert hall.commands.sent[0].wait is False


async def test_commands_to_offline_or_unknown_devices_are_refused(hall: Hall) -> None:
    headers = await hall.as_user("fay")
    offline = await hall.client.post("/api/v1/devices/door-7/commands", headers=headers,
                                     json={"method": "door.unlock"})
    assert offline.status_code == 409
    assert "offline" in offline.json()["detail"]
    unknown = await hall.client.post("/api/v1/devices/ghost-1/commands", headers=headers,
                                     json={"method": "door.unlock"})
    assert unknown.status_code == 404
    assert hall.commands.sent == []


async def test_clerks_cannot_send_commands(hall: Hall) -> None:
    reply = await hall.client.post("/api/v1/devices/kiosk-1/commands",
                                   headers=await hall.as_user("cleo"),
                                   json={"method": "printer.reset"})
    assert reply.status_code == 403
    assert "facilities" in reply.json()["detail"]
    assert hall.commands.sent == []


@pytest.mark.parametrize(("body", "field"), [
    ({"method": "Not A Method"}, "method"),
    ({"method": "printer.reset", "timeout_s": 61}, "timeout_s"),
    ({"method": "printer.reset", "timeout_s": 0}, "timeout_s"),
    ({"method": "printer.reset", "params": [1, 2]}, "params"),
    ({"method": "printer.reset", "wiat": False}, "wiat"),
    ({"params": {}}, "method"),
])
async def test_bad_command_bodies_are_422_naming_the_field(
    hall: Hall, body: dict[str, object], field: str,
) -> None:
    reply = await hall.client.post("/api/v1/devices/kiosk-1/commands",
                                   headers=await hall.as_user("fay"), json=body)
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", field]
    assert hall.commands.sent == []


async def test_a_body_that_is_not_json_is_422(hall: Hall) -> None:
    headers = await hall.as_user("fay") | {"Content-Type": "application/json"}
    reply = await hall.client.post("/api/v1/devices/kiosk-1/commands", headers=headers,
                                   content=b'{"method": "printer.reset",')
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["type"] == "json_invalid"


async def test_command_history_and_lookup(hall: Hall) -> None:
    headers = await hall.as_user("fay")
    for method in ("printer.reset", "display.reboot"):
        record = await hall.commands.send("kiosk-1", method, {}, "fay")
        await hall.store.insert_command(record)
    history = await hall.client.get("/api/v1/devices/kiosk-1/commands", headers=headers)
    assert history.status_code == 200
    assert {c["method"] for c in history.json()} == {"printer.reset", "display.reboot"}

    command_id = history.json()[0]["command_id"]
    one = await hall.client.get(f"/api/v1/commands/{command_id}", headers=headers)
    assert one.status_code == 200
    assert one.json()["command_id"] == command_id
    missing = await hall.client.get("/api/v1/commands/no-such-command", headers=headers)
    assert missing.status_code == 404


# --- alarms -----------------------------------------------------------------------------------


async def test_a_clerk_sees_alarms_but_cannot_ack_or_clear_them(hall: Hall) -> None:
    headers = await hall.as_user("cleo")
    listed = await hall.client.get("/api/v1/alarms", headers=headers)
    assert listed.status_code == 200
    assert len(listed.json()) == 2
    alarm_id = listed.json()[0]["id"]
    for action in ("ack", "clear"):
        reply = await hall.client.post(f"/api/v1/alarms/{alarm_id}/{action}", headers=headers)
        assert reply.status_code == 403
    alarm = await hall.store.get_alarm(alarm_id)
    assert alarm is not None
    assert not alarm.acknowledged


async def test_alarm_ack_then_clear(hall: Hall) -> None:
    headers = await hall.as_user("fay")
    [battery] = (await hall.client.get("/api/v1/alarms?device_id=door-7", headers=headers)).json()
    assert (battery["status"], battery["acknowledged"]) == ("active", False)

    acked = await hall.client.post(f"/api/v1/alarms/{battery['id']}/ack", headers=headers)
    assert acked.status_code == 200
    assert acked.json()["acknowledged"] is True
    assert acked.json()["acked_by"] == "fay"
    assert acked.json()["status"] == "active"
    unacked = await hall.client.get("/api/v1/alarms?acknowledged=false", headers=headers)
    assert [a["type"] for a in unacked.json()] == ["paper.low"]

    cleared = await hall.client.post(f"/api/v1/alarms/{battery['id']}/clear", headers=headers)
    assert cleared.status_code == 200
    assert cleared.json()["status"] == "cleared"
    assert cleared.json()["cleared_by"] == "fay"
    active = await hall.client.get("/api/v1/alarms?status=active", headers=headers)
    assert [a["type"] for a in active.json()] == ["paper.low"]
    detail = await hall.client.get("/api/v1/devices/door-7", headers=headers)
    assert detail.json()["active_alarms"] == []


async def test_admin_can_do_what_facilities_can(hall: Hall) -> None:
    headers = await hall.as_user("ada")
    alarm_id = (await hall.client.get("/api/v1/alarms", headers=headers)).json()[0]["id"]
    assert (await hall.client.post(f"/api/v1/alarms/{alarm_id}/ack",
                                   headers=headers)).status_code == 200


async def test_unknown_alarms_are_404_and_bad_filters_422(hall: Hall) -> None:
    headers = await hall.as_user("fay")
    assert (await hall.client.post("/api/v1/alarms/999999/ack", headers=headers)).status_code == 404
    assert (await hall.client.get("/api/v1/alarms/999999", headers=headers)).status_code == 404
    bad = await hall.client.get("/api/v1/alarms?status=burning", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "status"]


# --- dead letters -----------------------------------------------------------------------------


async def test_dead_letters_and_their_counts_by_reason(hall: Hall) -> None:
    headers = await hall.as_user("fay")
    listed = await hall.client.get("/api/v1/dead-letters", headers=headers)
    assert listed.status_code == 200
    newest = listed.json()[0]
    assert (newest["reason"], newest["size"]) == ("too_large", 99_999)
    assert len(listed.json()) == 3
    only_kiosk = await hall.client.get("/api/v1/dead-letters?device_id=kiosk-1&limit=1",
                                       headers=headers)
    assert [d["device_id"] for d in only_kiosk.json()] == ["kiosk-1"]

    summary = await hall.client.get("/api/v1/dead-letters/summary", headers=headers)
    assert summary.json() == {"total": 3, "by_reason": {"invalid_json": 2, "too_large": 1}}
    clerk = await hall.client.get("/api/v1/dead-letters", headers=await hall.as_user("cleo"))
    assert clerk.status_code == 403


# --- the boundary -----------------------------------------------------------------------------


async def test_a_database_outage_is_503_without_leaking_details(hall: Hall) -> None:
    headers = await hall.as_user("fay")
    hall.store.available = False
    reply = await hall.client.get("/api/v1/devices", headers=headers)
    assert reply.status_code == 503
    assert reply.json() == {"detail": "the database is unavailable; try again shortly",
                            "code": "store.unavailable", "params": {}}
    assert "memory store" not in reply.text


async def test_the_openapi_docs_list_every_route(hall: Hall) -> None:
    assert (await hall.client.get("/docs")).status_code == 200
    paths = (await hall.client.get("/openapi.json")).json()["paths"]
    assert {
        "/api/v1/auth/token", "/api/v1/auth/me", "/api/v1/users", "/api/v1/health",
        "/api/v1/devices", "/api/v1/devices/{device_id}", "/api/v1/devices/{device_id}/telemetry",
        "/api/v1/devices/{device_id}/events", "/api/v1/devices/{device_id}/commands",
        "/api/v1/commands/{command_id}", "/api/v1/alarms", "/api/v1/alarms/{alarm_id}/ack",
        "/api/v1/alarms/{alarm_id}/clear", "/api/v1/dead-letters", "/api/v1/dead-letters/summary",
    } <= set(paths)
    # Health is open; everything else asks for the bearer token (the docs' Authorize button).
    assert "security" not in paths["/api/v1/health"]["get"]
    assert paths["/api/v1/devices"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    # Every route says what it does in the docs.
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("description") or operation.get("summary"), (method, path)


class BrokenHealth:
    async def health(self) -> dict[str, object]:
        raise RuntimeError("probe bug with internals: /var/lib/secret")


async def test_an_unexpected_error_is_a_json_500_without_internals() -> None:
    store = MemoryStore()
    app = api_app(store, health=BrokenHealth())
    # The app re-raises after answering (so the server logs it); take the answer, not the raise.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hall.test") as client:
        reply = await client.get("/api/v1/health")
    assert reply.status_code == 500
    assert reply.json() == {"detail": "internal error", "code": "internal", "params": {}}
