"""The controller's side of signed policies: every ``access.sync`` reply is signed with the
key of the device asking, and no policy goes out unsigned once policies are signed."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from devices.kinds import DeviceKind
from devices.policy_signing import PolicyRefused, verify_policy_reply
from devices.signing import derive_device_key, derived_keys
from hall_controller.access.rules import AccessRule, AccessSnapshot, Person, Role
from hall_controller.access.service import AccessService
from hall_controller.fleet.model import DeviceRecord
from hall_controller.fleet.requests import RequestError

MASTER = b"controller-master-secret-for-tests"
NOW = 1_795_860_000_000
LOCK = DeviceRecord("lock-b3-101", DeviceKind.DOOR_LOCK, online=True)


class Snapshots:
    """The two reads ``sync`` makes of an access store."""

    snapshot_value = AccessSnapshot(
        7, [Person("s1", "王芳", Role.STUDENT, ("dorm-b3",), ("2026000001",))],
        [AccessRule(1, "dorm-b3", "lock-b3-*", "always")], {}, frozenset(), {})

    async def access_version(self) -> int:
        return self.snapshot_value.version

    async def snapshot(self) -> AccessSnapshot:
        return self.snapshot_value


def service(**keys: Any) -> AccessService:
    return AccessService(Snapshots(), None, None, signer=None, clock=lambda: NOW,  # type: ignore[arg-type]
                         **keys)


async def test_each_reply_is_signed_for_the_device_that_asked() -> None:
    access = service(device_keys=derived_keys(MASTER))
    key = derive_device_key(MASTER, LOCK.device_id)
    changed = await access.sync(LOCK.device_id, LOCK, {}, "r1")
    checked = verify_policy_reply(changed, device_id=LOCK.device_id, key=key, held_version=None,
                                  now_ms=NOW)
    assert checked.version == 7 and checked.news
    assert [p["person_id"] for p in changed["policy"]["people"]] == ["s1"]
    same = await access.sync(LOCK.device_id, LOCK, {"have_version": 7}, "r2")
    assert same["changed"] is False
    assert not verify_policy_reply(same, device_id=LOCK.device_id, key=key, held_version=7,
                                   now_ms=NOW).news
    # Another lock's key does not verify it.
    other = derive_device_key(MASTER, "lock-b3-102")
    with pytest.raises(PolicyRefused, match="bad_signature"):
        verify_policy_reply(changed, device_id=LOCK.device_id, key=other, held_version=None,
                            now_ms=NOW)


async def test_a_device_without_a_key_gets_no_policy_when_policies_are_signed() -> None:
    access = service(device_keys=lambda device_id: None)
    with pytest.raises(RequestError) as info:
        await access.sync(LOCK.device_id, LOCK, {}, "r1")
    assert info.value.code == "no_device_key"


async def test_without_device_keys_replies_are_unsigned() -> None:
    # Demo and development: a controller without a secret.
    reply = await service().sync(LOCK.device_id, LOCK, {}, "r1")
    assert "signature" not in reply and reply["version"] == 7


async def test_without_a_master_secret_a_keyless_device_gets_its_policy_unsigned() -> None:
    # A controller without a master secret: provisioned devices have keys (signed), an
    # unprovisioned one admitted by devices.auto_register has none (unsigned, as before keys).
    keys = {"lock-b3-102": derive_device_key(MASTER, "lock-b3-102")}
    access = service(device_keys=keys.get, unsigned_when_keyless=True)
    reply = await access.sync(LOCK.device_id, LOCK, {}, "r1")
    assert "signature" not in reply and reply["version"] == 7
    provisioned = dataclasses.replace(LOCK, device_id="lock-b3-102")
    signed = await access.sync("lock-b3-102", provisioned, {}, "r2")
    assert verify_policy_reply(signed, device_id="lock-b3-102", key=keys["lock-b3-102"],
                               held_version=None, now_ms=NOW).version == 7
