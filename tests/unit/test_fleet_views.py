"""FleetViews (what the API shows of the fleet) and staff's alarm moves, over MemoryStore."""

from __future__ import annotations

import pytest

from devices.kinds import DeviceKind
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import (
    Alarm,
    AlarmSeverity,
    AlarmStatus,
    DeviceRecord,
    IngestBatch,
    TelemetryPoint,
)
from hall_controller.fleet.views import FleetViews
from hall_controller.kernel.errors import NotFound


async def fleet() -> tuple[MemoryStore, FleetViews]:
    store = MemoryStore()
    await store.upsert_devices([
        DeviceRecord("kiosk-1", DeviceKind.KIOSK, site="main-hall", online=True),
        DeviceRecord("door-7", DeviceKind.DOOR_LOCK, site="dorm-3", online=False),
    ])
    await store.commit_batch(IngestBatch(telemetry=[
        TelemetryPoint("kiosk-1", 1_000, "temp_c", 21.5)]))
    return store, FleetViews(store)


async def test_devices_come_with_their_latest_values_and_filter_by_presence() -> None:
    _, views = await fleet()
    every = {v.device.device_id: v for v in await views.devices()}
    assert set(every) == {"kiosk-1", "door-7"}
    assert [(v.metric, v.value) for v in every["kiosk-1"].latest] == [("temp_c", 21.5)]
    assert every["door-7"].latest == []
    offline = await views.devices(online=False)
    assert [v.device.device_id for v in offline] == ["door-7"]
    assert await views.devices(site="nowhere") == []


async def test_an_unknown_device_is_not_found_whatever_is_asked_of_it() -> None:
    _, views = await fleet()
    for ask in (views.device("nope"), views.device_detail("nope"),
                views.telemetry_series("nope", "temp_c", 0, 10_000, 60),
                views.events("nope", 10), views.commands("nope", 10)):
        with pytest.raises(NotFound, match="unknown device 'nope'"):
            await ask
    with pytest.raises(NotFound, match="unknown alarm 99"):
        await views.alarm(99)
    with pytest.raises(NotFound, match="unknown command 'c-1'"):
        await views.command("c-1")


async def test_staff_acknowledge_and_clear_an_alarm_and_listeners_hear_both() -> None:
    store, views = await fleet()
    alarms = AlarmService(store)
    raised = await alarms.raise_alarm("door-7", "battery.low", AlarmSeverity.MAJOR)
    heard: list[Alarm] = []
    alarms.subscribe(heard.append)
    acked = await alarms.acknowledge(raised.id, "fay")
    assert (acked.acknowledged, acked.acked_by, acked.status) == (True, "fay", AlarmStatus.ACTIVE)
    assert [a.id for a in (await views.device_detail("door-7")).active_alarms] == [raised.id]
    cleared = await alarms.clear_by_hand(raised.id, "fay")
    assert (cleared.status, cleared.cleared_by) == (AlarmStatus.CLEARED, "fay")
    assert (await views.device_detail("door-7")).active_alarms == []
    assert [a.status for a in heard] == [AlarmStatus.ACTIVE, AlarmStatus.CLEARED]
    with pytest.raises(NotFound):
        await alarms.acknowledge(12345, "fay")
