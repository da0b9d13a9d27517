"""Device provisioning: the memory store against the shared contract, Mosquitto's password
hash, the one-time bundle, and what the controller's identity cache allows."""

from __future__ import annotations

import base64
import hashlib
import tomllib

import pytest

from devices.kinds import DeviceKind
from hall_controller.fleet.memory_provisioning import MemoryProvisioningStore
from hall_controller.fleet.provisioning import (
    MQTT_HASH_ITERATIONS,
    DeviceIdentities,
    InvalidProvisioning,
    ProvisioningService,
    hash_mqtt_password,
    verify_mqtt_password,
)
from hall_controller.kernel.errors import StoreUnavailable
from tests.support.provisioning_contract import ProvisioningStoreContract, service


@pytest.fixture
def provisioning_store() -> MemoryProvisioningStore:
    return MemoryProvisioningStore()


class TestMemoryProvisioningStoreContract(ProvisioningStoreContract):
    """Everything a ProvisioningStore does, against the fake."""


def test_the_hash_is_mosquittos_pbkdf2_sha512_format() -> None:
    # A line mosquitto_passwd 2.0.11 wrote for password "secretpw" (salt 12 bytes, hash 64).
    written = ("$7$101$g/SDlh6J/tfjYVKO$qjdVEBUIOZevgtByh+q+r+r6OELj6ywgQscg1x8X5HX6MTQOU5d01"
               "vxIUDhdUQhg8/LJxUewOIKpqQ4EebS2oQ==")
    assert verify_mqtt_password("secretpw", written)
    assert not verify_mqtt_password("secretpx", written)
    ours = hash_mqtt_password("secretpw")
    _, scheme, rounds, salt, digest = ours.split("$")
    assert (scheme, int(rounds)) == ("7", MQTT_HASH_ITERATIONS)
    assert len(base64.b64decode(salt)) == 12
    assert base64.b64decode(digest) == hashlib.pbkdf2_hmac(
        "sha512", b"secretpw", base64.b64decode(salt), MQTT_HASH_ITERATIONS)


@pytest.mark.parametrize("broken", ["", "plain", "$6$1$AAAA$AAAA", "$7$x$AAAA$AAAA",
                                    "$7$0$AAAA$AAAA", "$7$99999999$AAAA$AAAA", "$7$5$!!$!!"])
def test_an_unreadable_hash_matches_no_password(broken: str) -> None:
    assert not verify_mqtt_password("anything", broken)


async def test_the_bundle_is_the_config_hall_edge_reads() -> None:
    from hall.config import HallConfig

    bundle = await service(MemoryProvisioningStore()).provision(
        "lock-b3-0412", DeviceKind.DOOR_LOCK, "dorm-3", "admin")
    toml = bundle.to_toml("mqtt://old:creds@broker.campus:1883", "hall/v1")
    config = HallConfig.model_validate(tomllib.loads(toml))
    assert config.mqtt.url == f"mqtt://lock-b3-0412:{bundle.password}@broker.campus:1883"
    assert (config.edge.device_id, config.edge.kind, config.edge.site) == (
        "lock-b3-0412", DeviceKind.DOOR_LOCK, "dorm-3")
    assert bytes.fromhex(config.edge.command_key) == bundle.command_key
    assert bundle.password not in repr(bundle) and bundle.command_key.hex() not in repr(bundle)


@pytest.mark.parametrize("device_id", ["", "Gate-1", "gate/1", "gate+", "#", "a" * 64])
async def test_a_device_id_that_cannot_be_a_topic_level_is_refused(device_id: str) -> None:
    store = MemoryProvisioningStore()
    with pytest.raises(InvalidProvisioning):
        await service(store).provision(device_id, DeviceKind.KIOSK, "", "admin")
    assert store.credentials == {}


async def test_without_auto_register_only_provisioned_active_devices_may_speak() -> None:
    store = MemoryProvisioningStore()
    provisioning = ProvisioningService(store, iterations=50)
    identities = DeviceIdentities(store, auto_register=False)
    provisioning.subscribe(identities.remember)
    await provisioning.provision("gate-1", DeviceKind.FACE_GATE, "", "admin")
    await identities.prepare(["gate-1", "stranger"])
    assert identities.refusal("gate-1") is None
    assert identities.provisioned_kind("gate-1") is DeviceKind.FACE_GATE
    assert identities.refusal("stranger") == "unknown_device"
    assert identities.key_for("stranger") is None
    await provisioning.revoke("gate-1", "admin")
    assert identities.refusal("gate-1") == "revoked_device"
    assert identities.key_for("gate-1") is None


async def test_auto_register_admits_strangers_but_never_a_revoked_device() -> None:
    store = MemoryProvisioningStore()
    provisioning = ProvisioningService(store, iterations=50)
    await provisioning.provision("gate-1", DeviceKind.FACE_GATE, "", "admin")
    await provisioning.revoke("gate-1", "admin")
    identities = DeviceIdentities(store, auto_register=True)
    await identities.prepare(["gate-1", "stranger"])
    assert identities.refusal("stranger") is None
    assert identities.provisioned_kind("stranger") is None
    assert identities.refusal("gate-1") == "revoked_device"


async def test_a_device_provisioned_elsewhere_is_found_on_its_first_message() -> None:
    """``hall devices provision`` runs in another process: the cache misses and looks it up."""
    store = MemoryProvisioningStore()
    clock = [0.0]
    identities = DeviceIdentities(store, auto_register=False, miss_ttl_s=2.0,
                                  monotonic=lambda: clock[0])
    await identities.prepare(["kiosk-9"])
    assert identities.refusal("kiosk-9") == "unknown_device"
    await ProvisioningService(store, iterations=50).provision("kiosk-9", DeviceKind.KIOSK, "", "a")
    await identities.prepare(["kiosk-9"])  # the miss is remembered a moment ...
    assert identities.refusal("kiosk-9") == "unknown_device"
    clock[0] = 2.5
    await identities.prepare(["kiosk-9"])  # ... then looked up again
    assert identities.refusal("kiosk-9") is None


async def test_with_the_database_away_the_cache_decides() -> None:
    store = MemoryProvisioningStore()
    await ProvisioningService(store, iterations=50).provision("kiosk-1", DeviceKind.KIOSK, "", "a")
    identities = DeviceIdentities(store, auto_register=False)
    await identities.reload()
    store.available = False
    await identities.prepare(["kiosk-1", "kiosk-2"])  # does not raise
    assert identities.refusal("kiosk-1") is None
    assert identities.refusal("kiosk-2") == "unknown_device"
    with pytest.raises(StoreUnavailable):
        await store.list_credentials()


async def test_the_pipeline_hears_only_provisioned_devices_as_their_provisioned_kind() -> None:
    """The ingest gate over the memory stores: a stranger's messages are dead-lettered (and
    acknowledged: redelivery would not change the verdict), a revoked device's too, and a
    birth claiming another kind is refused even as the first one."""
    from devices.contract import now_ms
    from hall_controller.fleet.memory_store import MemoryStore
    from tests.unit.test_ingest import TOPICS, Acks, build, telemetry

    store = MemoryStore()
    credentials = MemoryProvisioningStore()
    provisioning = ProvisioningService(credentials, iterations=50)
    await provisioning.provision("lock-1", DeviceKind.DOOR_LOCK, "", "admin")
    await provisioning.provision("kiosk-9", DeviceKind.KIOSK, "", "admin")
    await provisioning.revoke("kiosk-9", "admin")
    pipeline, registry, _ = build(store)
    pipeline.check_identities(DeviceIdentities(credentials, auto_register=False))
    acks = Acks(store)

    def birth(kind: str) -> dict[str, object]:
        return {"online": True, "session": 1, "kind": kind, "ts": now_ms()}

    await pipeline.process([
        acks.message(TOPICS.device("stranger", "state"), birth("kiosk")),
        acks.message(TOPICS.device("stranger", "telemetry"), telemetry(1)),
        acks.message(TOPICS.device("kiosk-9", "telemetry"), telemetry(2)),
        acks.message(TOPICS.device("lock-1", "state"), birth("face_gate")),
    ])
    assert len(acks.acked) == 4
    reasons = [(d.device_id, d.reason.split(":")[0]) for d in store.dead_letters.values()]
    assert reasons == [("stranger", "unknown_device"), ("stranger", "unknown_device"),
                       ("kiosk-9", "revoked_device"), ("lock-1", "kind_mismatch")]
    assert store.telemetry == [] and store.devices == {}
    assert registry.get("lock-1") is None

    await pipeline.process([acks.message(TOPICS.device("lock-1", "state"), birth("door_lock"))])
    record = registry.get("lock-1")
    assert record is not None and record.kind is DeviceKind.DOOR_LOCK and record.online

    # Revoked, it is not heard any more, but its will (the broker cut it off) still counts.
    identities = DeviceIdentities(credentials, auto_register=False)
    pipeline.check_identities(identities)
    await provisioning.revoke("lock-1", "admin")
    await pipeline.process([
        acks.message(TOPICS.device("lock-1", "telemetry"), telemetry(3)),
        acks.message(TOPICS.device("lock-1", "state"), {"online": False, "session": 1}),
        acks.message(TOPICS.device("stranger", "state"), {"online": False, "session": 1}),
    ])
    reasons = [(d.device_id, d.reason.split(":")[0]) for d in store.dead_letters.values()]
    assert reasons[-2:] == [("lock-1", "revoked_device"), ("stranger", "unknown_device")]
    record = registry.get("lock-1")
    assert record is not None and not record.online


async def test_command_keys_provisioned_first_derived_only_for_admitted_strangers() -> None:
    from devices.signing import derive_device_key
    from hall_controller.fleet.provisioning import CommandKeys

    master = b"m" * 32
    store = MemoryProvisioningStore()
    provisioning = ProvisioningService(store, iterations=50)
    lock = await provisioning.provision("lock-1", DeviceKind.DOOR_LOCK, "", "admin")
    await provisioning.provision("lock-2", DeviceKind.DOOR_LOCK, "", "admin")
    await provisioning.revoke("lock-2", "admin")
    for auto_register in (False, True):
        identities = DeviceIdentities(store, auto_register=auto_register)
        await identities.reload()
        keys = CommandKeys(identities, master)
        assert keys.key_for("lock-1") == lock.command_key != derive_device_key(master, "lock-1")
        assert keys.key_for("lock-2") is None  # revoked: nothing is signed for it
        assert keys.key_for("stranger") == (derive_device_key(master, "stranger")
                                            if auto_register else None)


async def test_access_sync_is_answered_for_provisioned_devices_only() -> None:
    from hall_controller.features import provisioned_only
    from hall_controller.fleet.requests import RequestError

    store = MemoryProvisioningStore()
    await ProvisioningService(store, iterations=50).provision(
        "gate-1", DeviceKind.FACE_GATE, "", "admin")
    identities = DeviceIdentities(store, auto_register=False)
    await identities.reload()

    async def sync(device_id: str, device: object, params: dict[str, object],
                   request_id: str) -> dict[str, object]:
        return {"version": 1}

    guarded = provisioned_only(identities, sync)
    assert await guarded("gate-1", None, {}, "r1") == {"version": 1}
    with pytest.raises(RequestError) as refused:
        await guarded("gate-2", None, {}, "r2")
    assert refused.value.code == "not_provisioned"
