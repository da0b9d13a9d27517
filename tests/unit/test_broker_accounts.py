"""The embedded broker's accounts: a revocation made by another process (``hall devices
revoke`` while the hall runs) holds from the device's next login, not after the cache."""

from __future__ import annotations

import dataclasses

from devices.kinds import DeviceKind
from hall.amqtt_auth import BrokerAccounts
from hall_controller.fleet.provisioning import CredentialStatus, DeviceCredential, hash_mqtt_password

PASSWORD = "a-provisioned-device-password"


async def test_a_device_revoked_elsewhere_cannot_log_in_again_even_within_the_cache() -> None:
    stored = {"lock-77": DeviceCredential("lock-77", DeviceKind.DOOR_LOCK, "dorm-1",
                                          hash_mqtt_password(PASSWORD, iterations=1000))}

    async def lookup(device_id: str) -> DeviceCredential | None:
        return stored.get(device_id)

    accounts = BrokerAccounts("hall-controller", "controller-secret", "hall/v1",
                              cache_ttl_s=3600)   # a cache that would outlive the revocation
    accounts.lookup = lookup
    assert await accounts.login("lock-77", PASSWORD, "lock-77")
    # The CLI revokes it in the database; this process is not told.
    stored["lock-77"] = dataclasses.replace(stored["lock-77"], status=CredentialStatus.REVOKED)
    assert not await accounts.login("lock-77", PASSWORD, "lock-77")
    assert not await accounts.login("lock-77", "a wrong password", "lock-77")
