"""The controller's second opinion on grants: the pure rule and the ingest listener."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from devices.access_rules import AccessPolicy, DoorMode, PersonRights, schedule_from_wire
from hall_controller.access.grant_check import SUSPICIOUS_GRANT, GrantCheck
from hall_controller.access.rules import grant_doubt
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import DeviceEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = schedule_from_wire("office", {"windows": [{"days": [1, 2, 3, 4, 5], "start": "08:00",
                                                    "end": "18:00"}]})
MONDAY_10 = int(dt.datetime(2026, 9, 7, 10, 0, tzinfo=SHANGHAI).timestamp() * 1000)
MONDAY_20 = int(dt.datetime(2026, 9, 7, 20, 0, tzinfo=SHANGHAI).timestamp() * 1000)


def gate_policy(mode: DoorMode = DoorMode.NORMAL) -> AccessPolicy:
    return AccessPolicy(version=4, mode=mode, schedules={"office": OFFICE}, people={
        "s1": PersonRights("s1", ("office",), cards=("C0001",)),
        "s2": PersonRights("s2", ("always",), cards=("C0002",)),
        "v1": PersonRights("v1", ("always",), valid_until_ms=MONDAY_10 - 1)})


def test_a_grant_the_policy_contains_is_not_doubted() -> None:
    policy = gate_policy()
    assert grant_doubt(policy, {"method": "face", "person_id": "s1"}, MONDAY_10) is None
    assert grant_doubt(policy, {"method": "card", "person_id": "s2", "credential": "C0002"},
                       MONDAY_20) is None
    assert grant_doubt(policy, {"method": "card", "credential": "C0001"}, MONDAY_10) is None


def test_a_grant_for_someone_the_policy_does_not_let_in_then_and_there_is_doubted() -> None:
    policy = gate_policy()
    face = {"method": "face"}
    assert grant_doubt(policy, {**face, "person_id": "nobody"}, MONDAY_10) == "unknown_person"
    assert grant_doubt(policy, face, MONDAY_10) == "unknown_person"  # nobody named at all
    assert grant_doubt(policy, {**face, "person_id": 42}, MONDAY_10) == "unknown_person"
    assert grant_doubt(policy, {**face, "person_id": "s1"}, MONDAY_20) == "outside_schedule"
    assert grant_doubt(policy, {**face, "person_id": "v1"}, MONDAY_10) == "pass_expired"
    locked = gate_policy(DoorMode.LOCKED_DOWN)
    assert grant_doubt(locked, {**face, "person_id": "s2"}, MONDAY_10) == "locked_down"


def test_cards_are_checked_against_their_owner() -> None:
    policy = gate_policy()
    assert grant_doubt(policy, {"method": "card", "credential": "C9999"}, MONDAY_10) == "unknown_card"
    assert grant_doubt(policy, {"method": "card", "person_id": "s2", "credential": "C9999"},
                       MONDAY_10) == "unknown_card"
    assert grant_doubt(policy, {"method": "card", "person_id": "s2", "credential": "C0001"},
                       MONDAY_10) == "card_of_another_person"
    # s1's own card, but outside s1's schedule.
    assert grant_doubt(policy, {"method": "card", "credential": "C0001"}, MONDAY_20) == \
        "outside_schedule"


def test_free_pass_and_the_controllers_own_remote_unlock_are_not_doubted() -> None:
    free = gate_policy(DoorMode.FREE_PASS)
    assert grant_doubt(free, {"method": "face", "person_id": "nobody"}, MONDAY_20) is None
    assert grant_doubt(gate_policy(), {"method": "remote", "reason": "remote_command"},
                       MONDAY_20) is None


class Policies:
    def __init__(self, policy: AccessPolicy) -> None:
        self.policy = policy
        self.asked: list[str] = []

    async def policy_for(self, device_id: str) -> AccessPolicy:
        self.asked.append(device_id)
        return self.policy


class Audit:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    async def record_suspicious_decision(self, event_id: str, device_id: str, ts_ms: int, *,
                                         method: str, person_id: str | None, reason: str,
                                         details: dict[str, Any]) -> None:
        self.entries.append({"event_id": event_id, "device_id": device_id, "method": method,
                             "person_id": person_id, "reason": reason})


def granted(event_id: str, ts_ms: int, **data: object) -> DeviceEvent:
    return DeviceEvent(event_id, "gate-01", ts_ms, "access.granted", dict(data), ts_ms)


async def test_the_listener_audits_and_alarms_a_forged_grant_and_nothing_else() -> None:
    store = MemoryStore()
    policies, audit = Policies(gate_policy()), Audit()
    check = GrantCheck(policies, audit, AlarmService(store))

    await check(granted("e1", MONDAY_10, method="face", person_id="s1"))
    await check(DeviceEvent("e2", "gate-01", MONDAY_10, "access.denied",
                            {"method": "face", "person_id": "nobody"}, MONDAY_10))
    assert audit.entries == [] and list(store.alarms.values()) == []
    assert policies.asked == ["gate-01"]  # a denial is not second-guessed

    await check(granted("e3", MONDAY_10, method="face", person_id="nobody"))
    await check(granted("e4", MONDAY_10, method="card", credential="C9999"))
    assert audit.entries == [
        {"event_id": "e3", "device_id": "gate-01", "method": "face", "person_id": "nobody",
         "reason": "unknown_person"},
        {"event_id": "e4", "device_id": "gate-01", "method": "card", "person_id": None,
         "reason": "unknown_card"}]
    [alarm] = store.alarms.values()
    assert (alarm.device_id, alarm.type, alarm.count) == ("gate-01", SUSPICIOUS_GRANT, 2)
    assert alarm.details["event_id"] == "e4" and alarm.details["card"] == "C9999"
