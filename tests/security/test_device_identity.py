"""Device identity, tested as an attacker would: what the controller refuses from devices
nobody provisioned, revoked devices and devices claiming another kind; the provisioned command
key; and the brokers' logins and ACLs (a private Mosquitto run with the files ``hall devices
mosquitto-files`` writes, and the embedded amqtt broker with its provisioning check).

The controller part runs against the configured broker (the machine's Mosquitto, or the
embedded one with HALL_TEST_EMBEDDED=1) and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from devices.kinds import DeviceKind
from hall_controller.access.postgres_store import PostgresAccessStore
from hall_controller.access.service import AccessService
from hall_controller.fleet.postgres_provisioning import PostgresProvisioningStore
from hall_controller.fleet.provisioning import ProvisioningService
from tests.integration.test_door_agent import MASTER, lock_driver, lock_settings
from tests.integration.test_edge_agent import device_id, running
from tests.support.controller import eventually, raw_device, running_controller
from tests.support.hall_store import PostgresHallStore

pytestmark = pytest.mark.integration
__all__ = ["device_id"]  # a fixture, imported for pytest


async def reasons(store: PostgresHallStore, device: str) -> list[str]:
    return sorted(d.reason.split(":")[0] for d in await store.list_dead_letters(device_id=device))


async def test_an_unprovisioned_device_is_not_heard_without_auto_register(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    async with running_controller(broker_url, topic_prefix, hall_store,
                                  auto_register=False) as controller, \
            raw_device(broker_url, topic_prefix, "kiosk-rogue") as rogue:
        await rogue.birth("kiosk")
        await rogue.telemetry({"paper_pct": 50})
        await rogue.send_request("ticket.take", {"service": "student-id"})

        async def all_refused() -> bool:
            return await reasons(hall_store, "kiosk-rogue") == ["unknown_device"] * 3
        await eventually(all_refused, what="birth, telemetry and request dead-lettered")
        assert controller.registry.get("kiosk-rogue") is None
        assert "kiosk-rogue" not in {d.device_id for d in await hall_store.load_devices()}
        assert controller.counters.requests == 0  # the ticket request never reached a handler


async def test_a_device_provisioned_by_another_process_is_heard_and_a_revoked_one_is_not(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    store = PostgresProvisioningStore(hall_store.pool)
    # As `hall devices provision` does it: another service over the same table.
    elsewhere = ProvisioningService(store, iterations=50)
    async with running_controller(broker_url, topic_prefix, hall_store, provisioning=store,
                                  auto_register=False) as controller, \
            raw_device(broker_url, topic_prefix, "kiosk-7") as kiosk:
        await elsewhere.provision("kiosk-7", DeviceKind.KIOSK, "hall", "cli:admin")
        await kiosk.birth("kiosk")

        async def online() -> bool:
            record = controller.registry.get("kiosk-7")
            return record is not None and record.online
        await eventually(online, what="the provisioned kiosk online")

        # Revoked through the controller's own service: it takes effect at once.
        await controller.services.get(ProvisioningService).revoke("kiosk-7", "user:admin")
        await kiosk.telemetry({"paper_pct": 10})
        await kiosk.event("kiosk.paper_low", {"pct": 10})

        async def refused() -> bool:
            return await reasons(hall_store, "kiosk-7") == ["revoked_device"] * 2
        await eventually(refused, what="the revoked kiosk's messages dead-lettered")
        assert await hall_store.list_events("kiosk-7", 10) == []


async def test_a_birth_claiming_another_kind_than_provisioned_is_refused_even_the_first(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    store = PostgresProvisioningStore(hall_store.pool)
    await ProvisioningService(store, iterations=50).provision(
        "lock-b3-0412", DeviceKind.DOOR_LOCK, "dorm-3", "admin")
    async with running_controller(broker_url, topic_prefix, hall_store, provisioning=store,
                                  access=PostgresAccessStore(hall_store.pool),
                                  auto_register=True) as controller, \
            raw_device(broker_url, topic_prefix, "lock-b3-0412") as device:
        # A stolen lock's credentials used to pose as a gate (gates get the face gallery).
        await device.birth("face_gate")

        async def alarmed() -> bool:
            return any(a.type == "device.kind_mismatch"
                       for a in await hall_store.list_alarms(device_id="lock-b3-0412"))
        await eventually(alarmed, what="device.kind_mismatch raised")
        [alarm] = [a for a in await hall_store.list_alarms(device_id="lock-b3-0412")
                   if a.type == "device.kind_mismatch"]
        assert alarm.details == {"recorded_kind": "door_lock", "claimed_kind": "face_gate"}
        assert await reasons(hall_store, "lock-b3-0412") == ["kind_mismatch"]
        assert controller.registry.get("lock-b3-0412") is None

        await device.birth("door_lock", session=2)

        async def registered() -> bool:
            record = controller.registry.get("lock-b3-0412")
            return record is not None and record.online
        await eventually(registered, what="the lock registered as provisioned")
        record = controller.registry.get("lock-b3-0412")
        assert record is not None and record.kind is DeviceKind.DOOR_LOCK


async def test_doors_obey_the_provisioned_key_and_not_the_old_one_after_a_rekey(
        broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path,
        hall_store: PostgresHallStore) -> None:
    store = PostgresProvisioningStore(hall_store.pool)
    access = PostgresAccessStore(hall_store.pool)
    async with running_controller(broker_url, topic_prefix, hall_store, provisioning=store,
                                  access=access, command_secret=MASTER,
                                  auto_register=False) as controller:
        provisioning = controller.services.get(ProvisioningService)
        doors = controller.services.get(AccessService)
        first = await provisioning.provision(device_id, DeviceKind.DOOR_LOCK, "dorm", "admin")
        settings = lock_settings(broker_url, topic_prefix, device_id, tmp_path,
                                 first.command_key)

        async def online() -> bool:
            record = controller.registry.get(device_id)
            return record is not None and record.online
        async with running(settings, lock_driver()):
            await eventually(online, what="the provisioned lock online")
            opened = await doors.unlock(device_id, 2, "user:fay", "locked out")
            assert opened.status.value == "succeeded", opened

        second = await provisioning.rekey(device_id, "admin")
        # The lock still holds the old key: the controller now signs with the new one.
        async with running(settings, lock_driver()):
            await eventually(online, what="the lock back online")
            refused = await doors.unlock(device_id, 2, "user:fay", "locked out")
            assert refused.status.value == "failed", refused
            assert refused.error is not None and refused.error["code"] == "bad_signature"
        async with running(dataclasses.replace(settings, command_key=second.command_key),
                           lock_driver()):
            await eventually(online, what="the re-keyed lock online")
            opened = await doors.unlock(device_id, 2, "user:fay", "locked out")
            assert opened.status.value == "succeeded", opened
