"""The demo's alarm rules: valid as the rules page would take them, created once the
simulated kiosks and gates are there, and never overwriting what staff changed since."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from devices.contract import now_ms
from devices.kinds import DeviceKind
from hall.demo_rules import DEMO_RULES, ensure_demo_rules
from hall_controller.alarm_rules.memory_store import MemoryAlarmRuleStore
from hall_controller.alarm_rules.service import AlarmRuleService
from hall_controller.fleet.model import DeviceRecord
from tests.unit.test_alarm_rules_api import Directory


async def test_the_demo_rules_are_created_once_and_staff_changes_are_kept() -> None:
    store = MemoryAlarmRuleStore()
    hall = Directory(DeviceRecord("kiosk-01", DeviceKind.KIOSK),
                     DeviceRecord("gate-01", DeviceKind.FACE_GATE))
    rules = AlarmRuleService(store, store, hall, ZoneInfo("Asia/Shanghai"))
    await ensure_demo_rules(rules, hall)
    assert sorted(store.rules) == sorted(body["id"] for body in DEMO_RULES)
    await rules.set_enabled("kiosk-hot", False, "fay", now_ms())
    await ensure_demo_rules(rules, hall)
    assert store.rules["kiosk-hot"].enabled is False
    assert [a.by for a in store.audit] == ["demo", "demo", "fay"]


async def test_without_kiosks_and_gates_no_rule_is_made() -> None:
    store = MemoryAlarmRuleStore()
    hall = Directory(DeviceRecord("lock-01", DeviceKind.DOOR_LOCK))
    await ensure_demo_rules(AlarmRuleService(store, store, hall, ZoneInfo("UTC")), hall,
                            wait_s=0.6)
    assert store.rules == {}
