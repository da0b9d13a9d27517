"""A browser kiosk in the device registry: listed as a kiosk when it makes a request, offline
(with the offline alarm) after the kiosk timeout without one, online again at its next; an MQTT
device's id is never taken over."""

from __future__ import annotations

from devices.contract import Birth, now_ms
from devices.kinds import DeviceKind
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import AlarmStatus
from hall_controller.fleet.registry import BROWSER_KIOSK_MODEL, DeviceRegistry

TIMEOUTS = {kind: 90.0 for kind in DeviceKind}


async def test_a_browser_kiosk_is_listed_online_and_times_out_like_a_kiosk() -> None:
    store = MemoryStore()
    registry = DeviceRegistry(store, AlarmService(store), TIMEOUTS)
    at = now_ms()
    await registry.browser_kiosk_seen("kiosk-web-1", "一楼大厅", at)
    stored = store.devices["kiosk-web-1"]
    assert (stored.kind, stored.model, stored.site, stored.online) == (
        DeviceKind.KIOSK, BROWSER_KIOSK_MODEL, "一楼大厅", True)
    # Silent past the kiosk timeout: offline, with the alarm facilities staff see.
    offline = await registry.check_timeouts(at + 91_000)
    assert [d.device_id for d in offline] == ["kiosk-web-1"]
    assert not store.devices["kiosk-web-1"].online
    alarms = [a for a in store.alarms.values() if a.device_id == "kiosk-web-1"]
    assert [(a.type, a.status) for a in alarms] == [("device.offline", AlarmStatus.ACTIVE)]
    # Its next request brings it back and clears the alarm.
    await registry.browser_kiosk_seen("kiosk-web-1", "一楼大厅", at + 95_000)
    assert store.devices["kiosk-web-1"].online
    assert all(a.status is AlarmStatus.CLEARED for a in store.alarms.values()
               if a.device_id == "kiosk-web-1")


async def test_an_mqtt_devices_id_is_not_taken_by_a_browser_kiosk() -> None:
    store = MemoryStore()
    registry = DeviceRegistry(store, AlarmService(store), TIMEOUTS)
    at = now_ms()
    registry.on_birth("kiosk-1", Birth(online=True, session=1, kind=DeviceKind.KIOSK,
                                       model="K1", fw="1.0", ts=at), at)
    assert registry.holds_other_device("kiosk-1")
    assert not registry.holds_other_device("kiosk-web-1")
    await registry.browser_kiosk_seen("kiosk-1", "", at)
    record = registry.get("kiosk-1")
    assert record is not None and record.model == "K1"
    await registry.browser_kiosk_seen("kiosk-web-1", "", at)
    assert not registry.holds_other_device("kiosk-web-1")
