"""The alarm rule routes over HTTP (memory stores): writing rules, the refusals with their
stable codes, the audit, built-in tuning and the preview over a device's stored day."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from devices.contract import now_ms
from devices.kinds import DeviceKind
from hall_controller.alarm_rules.memory_store import MemoryAlarmRuleStore
from hall_controller.alarm_rules.service import AlarmRuleService
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import DeviceRecord, Role
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.unit.api_support import FAST_HASHER

PASSWORDS = {"ada": "admin-pass-1", "fay": "facilities-pass", "cleo": "clerk-pass-1"}
ROLES = {"ada": Role.ADMIN, "fay": Role.FACILITIES, "cleo": Role.CLERK}
RULES = "/api/v1/alarm-rules"


class Directory:
    def __init__(self, *records: DeviceRecord) -> None:
        self.records = {r.device_id: r for r in records}

    def all(self) -> list[DeviceRecord]:
        return list(self.records.values())

    def get(self, device_id: str) -> DeviceRecord | None:
        return self.records.get(device_id)


def hot_rule(**changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": "kiosk-hot", "name": "Kiosk too hot", "severity": "major",
        "target": {"devices": "kiosk-*"},
        "condition": {"type": "above", "metric": "cpu_temp_c", "threshold": 45,
                      "clear_at": 43, "for_s": 300},
        "message": {"zh-CN": "{device} 温度 {value}{unit}", "en": "{device} at {value} {unit}"}}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(rule.get(key), dict):
            rule[key] = {**rule[key], **value}
        else:
            rule[key] = value
    return rule


@pytest.fixture
def rule_store() -> MemoryAlarmRuleStore:
    return MemoryAlarmRuleStore()


@pytest.fixture
async def client(rule_store: MemoryAlarmRuleStore) -> AsyncIterator[httpx.AsyncClient]:
    users = MemoryUserStore()
    for name, role in ROLES.items():
        await ensure_user(users, name, PASSWORDS[name], role, hasher=FAST_HASHER)
    devices = Directory(DeviceRecord("kiosk-01", DeviceKind.KIOSK, site="hall"),
                        DeviceRecord("lock-101", DeviceKind.DOOR_LOCK, site="dorm-3"))
    service = AlarmRuleService(rule_store, rule_store, devices, ZoneInfo("Asia/Shanghai"))
    app = api_app(MemoryStore(), service, users=users)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hall.test") as client:
        yield client


async def login(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    reply = await client.post("/api/v1/auth/token",
                              data={"username": name, "password": PASSWORDS[name]})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


async def test_facilities_write_a_rule_and_clerks_may_only_read_it(
        client: httpx.AsyncClient) -> None:
    fay, cleo = await login(client, "fay"), await login(client, "cleo")
    created = await client.post(RULES, json=hot_rule(), headers=fay)
    assert created.status_code == 201, created.text
    assert created.json()["alarm_type"] == "rule.kiosk-hot"
    assert created.json()["version"] == 1 and created.json()["updated_by"] == "fay"
    assert (await client.post(RULES, json=hot_rule(id="other"), headers=cleo)).status_code == 403
    listed = await client.get(RULES, headers=cleo)
    assert [r["id"] for r in listed.json()] == ["kiosk-hot"]
    again = await client.post(RULES, json=hot_rule(), headers=fay)
    assert again.status_code == 409


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"condition": {"type": "outside", "metric": "cpu_temp_c", "low": 50, "high": 40}},
     "impossible_condition", "condition.low"),
    ({"condition": {"for_s": -5}}, "impossible_condition", "condition.for_s"),
    ({"condition": {"clear_at": 47}}, "impossible_condition", "condition.clear_at"),
    ({"message": {"en": "{device} at {temperature}"}}, "unknown_placeholder", "message.en"),
    ({"message": {"en": "{device.__class__}"}}, "invalid_template", "message.en"),
    ({"message": {"zh-CN": "{device"}}, "invalid_template", "message.zh-CN"),
    ({"condition": {"metric": "cpu_temp"}}, "unknown_metric", "condition.metric"),
    ({"target": {"devices": "gate-*"}}, "no_matching_device", "target.devices"),
    ({"target": {"kind": "door_lock"}}, "no_matching_device", "target.devices"),
    ({"condition": {"threshold": 1e12}}, "invalid_field", "condition.threshold"),
    ({"condition": {"for_s": 10**9}}, "invalid_field", "condition.for_s"),
    ({"severity": "urgent"}, "invalid_field", "severity"),
    ({"id": "Kiosk Hot!"}, "invalid_field", "id"),
    ({"name": "a\x00b"}, "invalid_field", "name"),
    ({"colour": "red"}, "invalid_field", "colour"),
    ({"target": {"kind": {"a": 1}}}, "invalid_field", "target.kind"),
    ({"severity": ["major"]}, "invalid_field", "severity"),
    ({"name": "bad \ud800 text"}, "invalid_field", "name"),
    ({"condition": {"threshold": float("inf")}}, "invalid_field", "condition.threshold"),
    ({"condition": {"type": "sometimes"}}, "invalid_field", "condition.type"),
    ({"active_hours": {"from": "22:00", "to": "22:00"}}, "impossible_condition",
     "active_hours.to"),
    ({"active_hours": {"from": "25:00", "to": "06:00"}}, "invalid_field", "active_hours.from"),
])
async def test_bad_rules_are_refused_with_a_stable_code_and_the_field(
        client: httpx.AsyncClient, change: dict[str, Any], code: str, field: str) -> None:
    # Sent as raw JSON: a careless or hostile client may send what httpx would not encode
    # (a lone surrogate escaped as \ud800, Infinity).
    reply = await client.post(RULES, content=json.dumps(hot_rule(**change)).encode(), headers={
        **await login(client, "fay"), "Content-Type": "application/json"})
    assert reply.status_code == 422, reply.text
    assert reply.json()["code"] == "alarm_rule.invalid"
    assert reply.json()["params"] == {"field": field, "reason": code}
    assert reply.json()["detail"]


async def test_an_event_count_rule_and_a_no_data_rule_of_any_metric(
        client: httpx.AsyncClient) -> None:
    fay = await login(client, "fay")
    denied = {"id": "denied-burst", "name": "Many refusals at one door", "severity": "minor",
              "target": {"devices": "lock-*", "kind": "door_lock"},
              "condition": {"type": "event_count", "event": "access.denied", "at_least": 5,
                            "window_s": 300, "clear_after_s": 600},
              "message": {"zh-CN": "{device} {window} 秒内拒绝 {count} 次",
                          "en": "{count} refusals at {device} within {window} s"}}
    assert (await client.post(RULES, json=denied, headers=fay)).status_code == 201
    silent = hot_rule(id="kiosk-silent", condition={
        "type": "no_data", "metric": "*", "after_s": 300},
        message={"zh-CN": "{device} 已 {after} 秒无数据", "en": "{device} silent {after} s"})
    silent["condition"] = {"type": "no_data", "metric": "*", "after_s": 300}
    assert (await client.post(RULES, json=silent, headers=fay)).status_code == 201


async def test_changes_are_audited_with_who_and_before_and_after(
        client: httpx.AsyncClient) -> None:
    fay, ada = await login(client, "fay"), await login(client, "ada")
    await client.post(RULES, json=hot_rule(), headers=fay)
    updated = await client.put(f"{RULES}/kiosk-hot?version=1", json=hot_rule(
        condition={"threshold": 50, "clear_at": 47}), headers=ada)
    assert updated.status_code == 200 and updated.json()["version"] == 2
    stale = await client.put(f"{RULES}/kiosk-hot?version=1", json=hot_rule(), headers=fay)
    assert stale.status_code == 409
    assert (await client.post(f"{RULES}/kiosk-hot/disable", headers=fay)).json()["enabled"] is False
    assert (await client.post(f"{RULES}/kiosk-hot/disable", headers=fay)).status_code == 200
    assert (await client.delete(f"{RULES}/kiosk-hot", headers=fay)).status_code == 204
    assert (await client.get(f"{RULES}/kiosk-hot", headers=fay)).status_code == 404
    audit = (await client.get(f"{RULES}/audit?rule_id=kiosk-hot", headers=fay)).json()
    assert [(a["action"], a["by"]) for a in audit] == [
        ("deleted", "fay"), ("disabled", "fay"), ("updated", "ada"), ("created", "fay")]
    changed = audit[2]
    assert changed["before"]["condition"]["threshold"] == 45
    assert changed["after"]["condition"]["threshold"] == 50
    assert audit[0]["after"] is None


async def test_built_in_alarms_are_listed_and_tuned_within_bounds(
        client: httpx.AsyncClient) -> None:
    fay = await login(client, "fay")
    builtins = {b["id"]: b for b in (await client.get(f"{RULES}/builtin", headers=fay)).json()}
    assert builtins["device.offline.door_lock"]["severity"] == "critical"
    assert builtins["door.held_open"]["cleared_by"] == ["door.closed"]
    tuned = await client.put(f"{RULES}/builtin/door.held_open",
                             json={"severity": "minor", "delay_s": 30}, headers=fay)
    assert tuned.status_code == 200, tuned.text
    assert (tuned.json()["severity"], tuned.json()["delay_s"], tuned.json()["tuned"]) == (
        "minor", 30, True)
    for body, code in [({"delay_s": 30}, "impossible_condition"),   # door.forced never clears
                       ({"delay_s": -1}, "impossible_condition"),
                       ({"delay_s": 99999}, "invalid_field"),
                       ({"severity": "loud"}, "invalid_field")]:
        reply = await client.put(f"{RULES}/builtin/door.forced", json=body, headers=fay)
        assert (reply.status_code, reply.json()["params"]["reason"]) == (422, code), body
    unknown = await client.put(f"{RULES}/builtin/door.kicked", json={}, headers=fay)
    assert (unknown.status_code, unknown.json()["params"]["reason"]) == (422, "unknown_builtin")
    reset = await client.delete(f"{RULES}/builtin/door.held_open", headers=fay)
    assert (reset.json()["severity"], reset.json()["tuned"]) == ("major", False)
    audit = (await client.get(f"{RULES}/audit?rule_id=builtin:door.held_open",
                              headers=fay)).json()
    assert [a["action"] for a in audit] == ["reset", "tuned"]


async def test_the_preview_replays_the_devices_last_day(
        client: httpx.AsyncClient, rule_store: MemoryAlarmRuleStore) -> None:
    now = now_ms()
    start = now - 3 * 3600_000
    # One sample a minute for 3 hours: 40 °C, then 50 °C for 20 min, then 40 °C again.
    for minute in range(180):
        value = 50.0 if 60 <= minute < 80 else 40.0
        rule_store.telemetry.append(("kiosk-01", start + minute * 60_000, "cpu_temp_c", value))
    # A sample older than a day is not replayed.
    rule_store.telemetry.append(("kiosk-01", now - 25 * 3600_000, "cpu_temp_c", 99.0))
    reply = await client.post(f"{RULES}/preview", json={"rule": hot_rule(), "device_id":
                                                        "kiosk-01"},
                              headers=await login(client, "fay"))
    assert reply.status_code == 200, reply.text
    preview = reply.json()
    assert preview["samples"] == 180 and preview["matches_target"] is True
    (interval,) = preview["intervals"]
    assert interval["raised_ms"] == start + 65 * 60_000   # 5 min after the first 50 °C
    assert interval["cleared_ms"] == start + 80 * 60_000
    assert interval["message"]["en"] == "kiosk-01 at 50 °C"
    assert len(preview["points"]) == 180
    nothing = await client.post(f"{RULES}/preview", json={"rule": hot_rule(), "device_id":
                                                          "kiosk-77"},
                                headers=await login(client, "fay"))
    assert nothing.status_code == 404
    refused = await client.post(f"{RULES}/preview", json={"rule": hot_rule(
        condition={"clear_at": 99}), "device_id": "kiosk-01"}, headers=await login(client, "fay"))
    assert refused.json()["params"]["reason"] == "impossible_condition"
