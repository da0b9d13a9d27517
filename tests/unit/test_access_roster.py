"""hall demo enrols exactly the people its simulated gates and locks let in."""

from __future__ import annotations

from typing import Any

from hall_controller.access.rules import AccessRule, AccessSnapshot, compile_for_device, grant_doubt
from simulators.access_roster import simulated_roster
from simulators.door_lock import SimulatedDoorLock
from simulators.face_gate import SimulatedFaceGate
from simulators.fleet import fleet_plan


class Outbox:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def emit_event(self, type: str, data: dict[str, Any] | None = None) -> None:
        self.events.append((type, data or {}))


async def test_every_grant_of_the_simulated_fleet_is_in_the_controllers_policy() -> None:
    specs = fleet_plan(devices_per_kind=2)
    roster = simulated_roster(specs)
    snapshot = AccessSnapshot(
        version=2, people=roster.people,
        rules=[AccessRule(n, *rule) for n, rule in enumerate(roster.rules, start=1)],
        schedules={}, holidays=frozenset(), modes={})
    devices = [SimulatedFaceGate("gate-01"), SimulatedFaceGate("gate-02"),
               SimulatedDoorLock("lock-01"), SimulatedDoorLock("lock-02")]
    grants: dict[str, int] = {}
    for device in devices:
        policy = compile_for_device(snapshot, device.device_id, "Asia/Shanghai")
        outbox = Outbox()
        for _ in range(5_000):
            device.step(5.0)
            await device.flush_events(outbox)  # type: ignore[arg-type]  # only emit_event is used
        for type_, data in outbox.events:
            if type_ == "access.granted":
                grants[device.device_id] = grants.get(device.device_id, 0) + 1
                assert grant_doubt(policy, data, 1_790_000_000_000) is None, (device.device_id, data)
    assert min(grants.values()) > 10 and len(grants) == len(devices)
    # A lock's residents are let in at that lock only.
    lock_01 = compile_for_device(snapshot, "lock-01", "Asia/Shanghai")
    assert all(p.startswith("resident-lock-01-") for p in lock_01.people)
