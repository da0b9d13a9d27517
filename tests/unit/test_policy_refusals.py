"""A policy a gate or lock refused is audited and raises an alarm on the controller."""

from __future__ import annotations

from typing import Any

from hall_controller.access.policy_refusals import POLICY_REFUSED, PolicyRefusals
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import AlarmSeverity, DeviceEvent

TS = 1_795_860_000_000


class Audit:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str]] = []

    async def record_policy_refusal(self, event_id: str, device_id: str, ts_ms: int, *,
                                    reason: str, details: dict[str, Any]) -> None:
        self.entries.append((event_id, device_id, reason))


def event(event_id: str, type_: str, **data: object) -> DeviceEvent:
    return DeviceEvent(event_id, "lock-b3-101", TS, type_, dict(data), TS)


async def test_a_refusal_is_audited_with_its_reason_and_raises_a_critical_alarm() -> None:
    store, audit = MemoryStore(), Audit()
    listener = PolicyRefusals(audit, AlarmService(store))

    await listener(event("e1", "access.denied", reason="unknown_credential"))
    assert audit.entries == [] and list(store.alarms.values()) == []

    await listener(event("e2", POLICY_REFUSED, reason="bad_signature", offered_version=9,
                         held_version=5))
    await listener(event("e3", POLICY_REFUSED, reason="rollback", offered_version=4))
    # What the device says is data: a missing or oversized reason stays bounded.
    await listener(event("e4", POLICY_REFUSED))
    await listener(event("e5", POLICY_REFUSED, reason="x" * 500))
    assert audit.entries == [("e2", "lock-b3-101", "bad_signature"),
                             ("e3", "lock-b3-101", "rollback"),
                             ("e4", "lock-b3-101", "unknown"),
                             ("e5", "lock-b3-101", "x" * 64)]
    [alarm] = store.alarms.values()
    assert (alarm.type, alarm.severity, alarm.count) == (POLICY_REFUSED, AlarmSeverity.CRITICAL, 4)
    assert alarm.details["event_id"] == "e5"
