"""What every ProvisioningStore must do, as tests: run against MemoryProvisioningStore (unit)
and PostgresProvisioningStore (integration), through the provisioning service as the CLI
and the API use it.

A test module subclasses ``ProvisioningStoreContract`` and provides a ``provisioning_store``
fixture.
"""

from __future__ import annotations

import itertools

import pytest

from devices.kinds import DeviceKind
from hall_controller.fleet.ports import ProvisioningStore
from hall_controller.fleet.provisioning import (
    CredentialStatus,
    ProvisioningService,
    verify_mqtt_password,
)
from hall_controller.kernel.errors import Conflict, NotFound


def service(store: ProvisioningStore) -> ProvisioningService:
    ticks = itertools.count(1_000)
    # Few rounds: the contract is about storage; the real count is tested once in the unit test.
    return ProvisioningService(store, clock=lambda: next(ticks), iterations=50)


class ProvisioningStoreContract:
    async def test_a_provisioned_device_keeps_its_kind_site_hash_and_key_but_not_its_password(
            self, provisioning_store: ProvisioningStore) -> None:
        bundle = await service(provisioning_store).provision(
            "lock-b3-0412", DeviceKind.DOOR_LOCK, "dorm-3", "admin")
        stored = await provisioning_store.get_credential("lock-b3-0412")
        assert stored is not None
        assert (stored.kind, stored.site, stored.status, stored.created_by) == (
            DeviceKind.DOOR_LOCK, "dorm-3", CredentialStatus.ACTIVE, "admin")
        assert bundle.password not in stored.password_hash
        assert verify_mqtt_password(bundle.password, stored.password_hash)
        assert stored.command_key == bundle.command_key
        assert len(stored.command_key) == 32

    async def test_listing_and_batch_lookup_find_only_provisioned_devices(
            self, provisioning_store: ProvisioningStore) -> None:
        provisioning = service(provisioning_store)
        for device_id in ("kiosk-2", "kiosk-1", "gate-1"):
            await provisioning.provision(device_id, DeviceKind.KIOSK, "", "admin")
        assert [c.device_id for c in await provisioning_store.list_credentials()] == [
            "gate-1", "kiosk-1", "kiosk-2"]
        found = await provisioning_store.get_credentials(["kiosk-1", "nobody", "gate-1"])
        assert sorted(found) == ["gate-1", "kiosk-1"]
        assert await provisioning_store.get_credential("nobody") is None

    async def test_rekey_replaces_password_and_key_and_records_who(
            self, provisioning_store: ProvisioningStore) -> None:
        provisioning = service(provisioning_store)
        first = await provisioning.provision("gate-1", DeviceKind.FACE_GATE, "hall", "admin")
        second = await provisioning.rekey("gate-1", "ops")
        stored = await provisioning_store.get_credential("gate-1")
        assert stored is not None
        assert not verify_mqtt_password(first.password, stored.password_hash)
        assert verify_mqtt_password(second.password, stored.password_hash)
        assert stored.command_key == second.command_key != first.command_key
        assert stored.rotated_by == "ops" and stored.rotated_ms is not None
        assert stored.created_by == "admin"

    async def test_revoke_is_kept_and_final_until_provisioned_again(
            self, provisioning_store: ProvisioningStore) -> None:
        provisioning = service(provisioning_store)
        await provisioning.provision("gate-1", DeviceKind.FACE_GATE, "", "admin")
        revoked = await provisioning.revoke("gate-1", "ops")
        assert (revoked.status, revoked.revoked_by) == (CredentialStatus.REVOKED, "ops")
        assert await provisioning.revoke("gate-1", "someone-else") == revoked  # twice: no change
        stored = await provisioning_store.get_credential("gate-1")
        assert stored == revoked
        with pytest.raises(Conflict):
            await provisioning.rekey("gate-1", "ops")
        again = await provisioning.provision("gate-1", DeviceKind.DOOR_LOCK, "", "admin")
        stored = await provisioning_store.get_credential("gate-1")
        assert stored is not None and stored.active and stored.kind is DeviceKind.DOOR_LOCK
        assert stored.revoked_ms is None
        assert verify_mqtt_password(again.password, stored.password_hash)

    async def test_an_active_device_is_not_provisioned_twice_and_unknown_ones_not_changed(
            self, provisioning_store: ProvisioningStore) -> None:
        provisioning = service(provisioning_store)
        first = await provisioning.provision("kiosk-1", DeviceKind.KIOSK, "", "admin")
        with pytest.raises(Conflict):
            await provisioning.provision("kiosk-1", DeviceKind.DOOR_LOCK, "", "admin")
        stored = await provisioning_store.get_credential("kiosk-1")
        assert stored is not None and stored.command_key == first.command_key
        for change in (provisioning.revoke, provisioning.rekey):
            with pytest.raises(NotFound):
                await change("nobody", "admin")
        assert await provisioning_store.get_credential("nobody") is None
