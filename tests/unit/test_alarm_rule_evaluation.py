"""Rules at work over the fleet's AlarmService (memory stores): a rule's alarm raised and
cleared with its message, built-in alarms tuned (severity, delay, off), a restart."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest

from devices.contract import now_ms
from devices.kinds import DeviceKind
from hall_controller.alarm_rules.evaluation import BuiltinTunings, RuleEvaluation
from hall_controller.alarm_rules.memory_store import MemoryAlarmRuleStore
from hall_controller.alarm_rules.model import KNOWN_METRICS
from hall_controller.alarm_rules.rules import RuleEngine
from hall_controller.alarm_rules.service import AlarmRuleService
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.device_alarms import DeviceAlarmRules
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import (
    Alarm,
    AlarmSeverity,
    AlarmStatus,
    DeviceEvent,
    DeviceRecord,
    IngestBatch,
    TelemetryPoint,
)
from tests.support.waiting import eventually
from tests.unit.test_alarm_rules_api import Directory, hot_rule

ZONE = ZoneInfo("Asia/Shanghai")


class Hall:
    def __init__(self) -> None:
        self.fleet = MemoryStore()
        self.rules = MemoryAlarmRuleStore()
        self.alarms = AlarmService(self.fleet)
        self.devices = Directory(DeviceRecord("kiosk-01", DeviceKind.KIOSK, site="hall"),
                                 DeviceRecord("lock-101", DeviceKind.DOOR_LOCK))
        self.service = AlarmRuleService(self.rules, self.rules, self.devices, ZONE)
        tunings = BuiltinTunings(self.devices)
        self.alarms.tuning = tunings
        self.evaluation = RuleEvaluation(RuleEngine(ZONE, KNOWN_METRICS), self.rules,
                                         self.alarms, self.devices, tunings, latest=self.fleet)
        self.service.subscribe(self.evaluation.rules_changed)

    async def alarm(self, device_id: str, type: str) -> Alarm | None:
        found = [a for a in await self.fleet.list_alarms(device_id=device_id) if a.type == type]
        return found[0] if found else None

    async def status(self, type: str, device_id: str = "kiosk-01") -> AlarmStatus | None:
        alarm = await self.alarm(device_id, type)
        return None if alarm is None else alarm.status


@contextlib.asynccontextmanager
async def running(hall: Hall) -> AsyncIterator[Hall]:
    await hall.evaluation.load()
    task = asyncio.create_task(hall.evaluation.run())
    try:
        yield hall
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def sample(value: float, ts: int) -> list[TelemetryPoint]:
    return [TelemetryPoint("kiosk-01", ts, "cpu_temp_c", value)]


@pytest.fixture
def hall() -> Hall:
    return Hall()


async def test_a_rule_raises_with_its_message_and_clears_past_the_hysteresis(hall: Hall) -> None:
    await hall.service.create(hot_rule(condition={"for_s": 0}), "fay", now_ms())
    async with running(hall):
        t = now_ms()
        hall.evaluation.on_telemetry(sample(47.5, t))
        await eventually(lambda: hall.status("rule.kiosk-hot"), what="the rule's alarm")
        alarm = await hall.alarm("kiosk-01", "rule.kiosk-hot")
        assert alarm is not None and alarm.severity is AlarmSeverity.MAJOR
        assert alarm.details["message"] == {"zh-CN": "kiosk-01 温度 47.5°C",
                                            "en": "kiosk-01 at 47.5 °C"}
        assert alarm.details["rule_id"] == "kiosk-hot"
        hall.evaluation.on_telemetry(sample(44.0, t + 1000))  # below 45 but above clear_at 43
        hall.evaluation.on_telemetry(sample(42.0, t + 2000))
        await eventually(lambda: _is(hall, "rule.kiosk-hot", AlarmStatus.CLEARED))
        alarm = await hall.alarm("kiosk-01", "rule.kiosk-hot")
        assert alarm is not None and alarm.cleared_by == "rule:kiosk-hot" and alarm.count == 1


async def test_disabling_a_rule_clears_its_alarm(hall: Hall) -> None:
    await hall.service.create(hot_rule(condition={"for_s": 0}), "fay", now_ms())
    async with running(hall):
        hall.evaluation.on_telemetry(sample(60, now_ms()))
        await eventually(lambda: _is(hall, "rule.kiosk-hot", AlarmStatus.ACTIVE))
        await hall.service.set_enabled("kiosk-hot", False, "fay", now_ms())
        await eventually(lambda: _is(hall, "rule.kiosk-hot", AlarmStatus.CLEARED))


async def _is(hall: Hall, type: str, status: AlarmStatus) -> bool:
    return await hall.status(type) is status


async def test_an_alarm_active_before_a_restart_is_cleared_by_its_clear_condition(
        hall: Hall) -> None:
    await hall.service.create(hot_rule(), "fay", now_ms())
    await hall.alarms.raise_alarm("kiosk-01", "rule.kiosk-hot", AlarmSeverity.MAJOR, {})
    async with running(hall):  # load() marks it active in the engine
        hall.evaluation.on_telemetry(sample(40, now_ms()))
        await eventually(lambda: _is(hall, "rule.kiosk-hot", AlarmStatus.CLEARED))


def held_open(event_type: str = "door.held_open") -> DeviceEvent:
    return DeviceEvent(str(uuid.uuid4()), "lock-101", now_ms(), event_type, {}, now_ms())


async def test_a_tuned_delay_spares_a_door_closed_in_time_and_raises_one_that_is_not(
        hall: Hall) -> None:
    await hall.service.tune("door.held_open", {"severity": "minor", "delay_s": 30}, "fay",
                            now_ms())
    await hall.evaluation.load()
    doors = DeviceAlarmRules(hall.alarms)
    await doors(held_open())
    await doors(held_open("door.closed"))
    assert await hall.alarms.raise_due(now_ms() + 31_000) == []
    assert await hall.alarm("lock-101", "door.held_open") is None
    await doors(held_open())
    assert await hall.alarms.raise_due(now_ms() + 29_000) == []
    (raised,) = await hall.alarms.raise_due(now_ms() + 31_000)
    assert (raised.type, raised.severity, raised.details["delayed"]) == (
        "door.held_open", AlarmSeverity.MINOR, True)


async def test_a_built_in_alarm_turned_off_is_not_raised_and_a_reset_brings_it_back(
        hall: Hall) -> None:
    await hall.service.tune("device.offline.door_lock", {"enabled": False}, "fay", now_ms())
    await hall.service.tune("device.offline.kiosk", {"severity": "critical"}, "fay", now_ms())
    await hall.evaluation.load()
    assert await hall.alarms.device_offline("lock-101", DeviceKind.DOOR_LOCK, "will") is None
    kiosk = await hall.alarms.device_offline("kiosk-01", DeviceKind.KIOSK, "will")
    assert kiosk is not None and kiosk.severity is AlarmSeverity.CRITICAL
    await hall.service.reset("device.offline.door_lock", "fay", now_ms())
    lock = await hall.alarms.device_offline("lock-101", DeviceKind.DOOR_LOCK, "will")
    assert lock is not None and lock.severity is AlarmSeverity.CRITICAL


async def test_event_count_rule_through_the_event_listener(hall: Hall) -> None:
    await hall.service.create({
        "id": "denied", "name": "Refusals", "severity": "minor",
        "target": {"devices": "lock-*"},
        "condition": {"type": "event_count", "event": "access.denied", "at_least": 3,
                      "window_s": 60},
        "message": {"zh-CN": "{device} 拒绝 {count} 次", "en": "{count} refusals at {device}"}},
        "fay", now_ms())
    async with running(hall):
        for _ in range(3):
            await hall.evaluation.on_event(held_open("access.denied"))

        alarm = await eventually(lambda: hall.alarm("lock-101", "rule.denied"))
        assert alarm.details["message"]["en"] == "3 refusals at lock-101"


async def test_a_device_silent_since_before_a_restart_is_found_silent(hall: Hall) -> None:
    silent = hot_rule(id="kiosk-silent", message={"zh-CN": "{device} 无数据",
                                                  "en": "{device} silent"})
    silent["condition"] = {"type": "no_data", "metric": "cpu_temp_c", "after_s": 600}
    await hall.service.create(silent, "fay", now_ms())
    last = now_ms() - 11 * 60_000
    await hall.fleet.commit_batch(IngestBatch(telemetry=sample(44, last)))
    async with running(hall):   # the restart: load() reads the latest stored values
        await hall.evaluation.tick(now_ms())
        alarm = await eventually(lambda: hall.alarm("kiosk-01", "rule.kiosk-silent"))
        assert alarm.details["message"]["en"] == "kiosk-01 silent"


async def test_while_the_database_is_away_raise_and_clear_wait_in_order(hall: Hall) -> None:
    await hall.service.create(hot_rule(condition={"for_s": 0}), "fay", now_ms())
    async with running(hall):
        hall.fleet.available = False
        t = now_ms()
        hall.evaluation.on_telemetry(sample(60, t))   # raise ...
        hall.evaluation.on_telemetry(sample(40, t + 1))  # ... and clear, both decided now
        await eventually(lambda: hall.evaluation.counters.transitions == 0
                         and hall.evaluation.backlog == 1, what="the raise being retried")
        hall.fleet.available = True
        # Both arrive, the raise first: the alarm ends cleared, not stuck active.
        await eventually(lambda: hall.evaluation.counters.transitions == 2)
        alarm = await hall.alarm("kiosk-01", "rule.kiosk-hot")
        assert alarm is not None and alarm.status is AlarmStatus.CLEARED
