"""Broker logins and the per-device ACL, attacked with raw MQTT clients: a private Mosquitto
run with the password and ACL files ``hall devices mosquitto-files`` writes (its own
``mosquitto_passwd`` hash format, ``use_username_as_clientid``), and the embedded amqtt broker
checking the provisioned devices. Every test runs against both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import pytest_asyncio

from devices.kinds import DeviceKind
from hall.amqtt_auth import BrokerAccounts
from hall.config import HallConfig
from hall.embedded_broker import free_port, running_broker
from hall.infrastructure import BrokerEndpoint
from hall.provisioning_files import write_mosquitto_files
from hall_controller.fleet.memory_provisioning import MemoryProvisioningStore
from hall_controller.fleet.provisioning import ProvisioningBundle, ProvisioningService
from tests.support.mqtt_fixtures import wait_for_port
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

CONTROLLER = "hall-controller"
PREFIX = "hall/v1"


class SecuredBroker:
    """A broker with logins on, and the provisioning service whose devices it knows."""

    def __init__(self, kind: str, port: int, provisioning: ProvisioningService,
                 controller_password: str) -> None:
        self.kind = kind
        self.port = port
        self.provisioning = provisioning
        self.controller_password = controller_password
        self.reload_files: Any = None  # Mosquitto: rewrite its files and SIGHUP it

    async def provision(self, device_id: str, kind: DeviceKind = DeviceKind.KIOSK
                        ) -> ProvisioningBundle:
        bundle = await self.provisioning.provision(device_id, kind, "hall", "admin")
        await self.changed()
        return bundle

    async def changed(self) -> None:
        if self.reload_files is not None:
            await self.reload_files()

    def client(self, username: str | None, password: str | None,
               client_id: str | None = None, **kwargs: Any) -> aiomqtt.Client:
        return aiomqtt.Client("127.0.0.1", self.port, username=username, password=password,
                              identifier=client_id or username or f"anon-{uuid.uuid4().hex[:6]}",
                              timeout=5, **kwargs)

    def controller(self) -> aiomqtt.Client:
        return self.client(CONTROLLER, self.controller_password, clean_session=False)

    async def refused(self, username: str | None, password: str | None,
                      client_id: str | None = None) -> bool:
        try:
            async with self.client(username, password, client_id):
                return False
        except aiomqtt.MqttError:
            return True


def start_mosquitto(conf: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@contextlib.asynccontextmanager
async def mosquitto(provisioning: ProvisioningService, store: MemoryProvisioningStore
                    ) -> AsyncIterator[SecuredBroker]:
    folder = Path(tempfile.mkdtemp(prefix="hall-test-auth-"))
    os.chmod(folder, 0o777)  # run as root, Mosquitto drops to its own user before reading
    config = HallConfig.model_validate({"data_dir": str(folder / "data")})
    passwords, acl = folder / "passwords", folder / "acl"

    async def write() -> None:
        await asyncio.to_thread(write_mosquitto_files, config, await store.list_credentials(),
                                passwords, acl)
        for path in (passwords, acl):
            os.chmod(path, 0o644)  # for Mosquitto's own user; the folder is the test's

    await write()
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"use_username_as_clientid true\npassword_file {passwords}\n"
                    f"acl_file {acl}\npersistence false\n", encoding="utf-8")
    proc = start_mosquitto(conf)
    try:
        await asyncio.to_thread(wait_for_port, "127.0.0.1", port)
        broker = SecuredBroker("mosquitto", port, provisioning,
                               (folder / "data" / "mqtt-controller-password").read_text().strip())

        async def reload_files() -> None:
            await write()
            proc.send_signal(signal.SIGHUP)  # Mosquitto re-reads both files

        broker.reload_files = reload_files
        yield broker
    finally:
        proc.kill()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def amqtt(provisioning: ProvisioningService, store: MemoryProvisioningStore
                ) -> AsyncIterator[SecuredBroker]:
    password = uuid.uuid4().hex
    accounts = BrokerAccounts(CONTROLLER, password, PREFIX)
    async with running_broker(accounts=accounts) as running:
        # As ``hall controller`` wires it: lookups in the store, revocations disconnect.
        BrokerEndpoint(running.url, running.url, accounts, running).attach(provisioning, store)
        yield SecuredBroker("amqtt", int(running.url.rsplit(":", 1)[1]), provisioning, password)


@pytest_asyncio.fixture(params=["mosquitto", "amqtt"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[SecuredBroker]:
    store = MemoryProvisioningStore()
    provisioning = ProvisioningService(store, iterations=1000)
    start = mosquitto if request.param == "mosquitto" else amqtt
    async with start(provisioning, store) as secured:
        yield secured


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(10):
        async for message in client.messages:
            return message
    raise AssertionError("no message")


async def test_anonymous_and_wrong_passwords_are_refused_the_provisioned_one_is_not(
        broker: SecuredBroker) -> None:
    bundle = await broker.provision("kiosk-1")
    assert await broker.refused(None, None)
    assert await broker.refused("kiosk-1", "not-the-password")
    assert await broker.refused("kiosk-1", None)
    assert await broker.refused("nobody", bundle.password)
    assert await broker.refused(CONTROLLER, bundle.password)
    async with broker.client("kiosk-1", bundle.password):
        pass


async def test_a_device_cannot_publish_or_listen_on_another_devices_topics(
        broker: SecuredBroker) -> None:
    a = await broker.provision("kiosk-1")
    b = await broker.provision("lock-1", DeviceKind.DOOR_LOCK)
    async with broker.controller() as controller, \
            broker.client("kiosk-1", a.password) as attacker, \
            broker.client("lock-1", b.password) as victim:
        await controller.subscribe(f"{PREFIX}/#", qos=1)
        await victim.subscribe(f"{PREFIX}/dev/lock-1/cmd", qos=1)
        # Wildcards and the neighbour's command topic: refused or empty-handed.
        for wanted in (f"{PREFIX}/dev/lock-1/cmd", f"{PREFIX}/dev/+/cmd", f"{PREFIX}/#"):
            await attacker.subscribe(wanted, qos=1)
        await attacker.subscribe(f"{PREFIX}/dev/kiosk-1/cmd", qos=1)

        forged = b'{"id":"00000000-0000-4000-8000-000000000001","ts":1,"type":"access.granted"}'
        await attacker.publish(f"{PREFIX}/dev/lock-1/event", forged, qos=1)
        await attacker.publish(f"{PREFIX}/dev/lock-1/state", b'{"online":false}', qos=1)
        await attacker.publish(f"{PREFIX}/controller/state", b'{"online":false}', qos=1)
        await attacker.publish(f"{PREFIX}/dev/kiosk-1/event", b"own", qos=1)
        # One client's messages arrive in order: the first the controller hears is the last.
        heard = await next_message(controller)
        assert (heard.topic.value, heard.payload) == (f"{PREFIX}/dev/kiosk-1/event", b"own")

        await controller.publish(f"{PREFIX}/dev/lock-1/cmd", b"unlock", qos=1)
        await controller.publish(f"{PREFIX}/dev/kiosk-1/cmd", b"for-kiosk", qos=1)
        got = await next_message(attacker)
        assert (got.topic.value, got.payload) == (f"{PREFIX}/dev/kiosk-1/cmd", b"for-kiosk")
        assert (await next_message(victim)).payload == b"unlock"


async def test_nobody_takes_over_the_controllers_client_id(broker: SecuredBroker) -> None:
    a = await broker.provision("kiosk-1")
    async with broker.controller() as controller:
        await controller.subscribe(f"{PREFIX}/#", qos=1)
        # Without the controller's password, and with a device's own password.
        assert await broker.refused(CONTROLLER, "guess", client_id=CONTROLLER)
        assert await broker.refused(None, None, client_id=CONTROLLER)
        with contextlib.suppress(aiomqtt.MqttError):  # Mosquitto: admitted as kiosk-1
            async with broker.client("kiosk-1", a.password, client_id=CONTROLLER,
                                     clean_session=True) as intruder:
                await intruder.publish(f"{PREFIX}/dev/kiosk-1/event", b"intruder", qos=1)
        async with broker.client("kiosk-1", a.password) as device:
            await device.publish(f"{PREFIX}/dev/kiosk-1/event", b"still-there", qos=1)
            # The controller's connection and its subscription survived all of it.
            payloads = []
            while b"still-there" not in payloads:
                payloads.append((await next_message(controller)).payload)
            assert set(payloads) <= {b"intruder", b"still-there"}


async def test_a_revoked_device_cannot_log_in_again(broker: SecuredBroker) -> None:
    bundle = await broker.provision("lock-1", DeviceKind.DOOR_LOCK)
    async with broker.client("lock-1", bundle.password):
        pass
    await broker.provisioning.revoke("lock-1", "admin")
    await broker.changed()

    async def refused() -> bool:
        return await broker.refused("lock-1", bundle.password)
    await eventually(refused, what="the revoked device refused")


async def test_after_a_rekey_the_old_password_is_refused_and_the_new_one_works(
        broker: SecuredBroker) -> None:
    old = await broker.provision("gate-1", DeviceKind.FACE_GATE)
    new = await broker.provisioning.rekey("gate-1", "admin")
    await broker.changed()

    async def old_refused() -> bool:
        return await broker.refused("gate-1", old.password)
    await eventually(old_refused, what="the old password refused")
    async with broker.client("gate-1", new.password):
        pass


async def test_amqtt_disconnects_a_device_the_moment_it_is_revoked() -> None:
    store = MemoryProvisioningStore()
    provisioning = ProvisioningService(store, iterations=1000)
    async with amqtt(provisioning, store) as secured:
        bundle = await secured.provision("lock-1", DeviceKind.DOOR_LOCK)
        async with secured.client("lock-1", bundle.password) as device:
            await device.subscribe(f"{PREFIX}/dev/lock-1/cmd", qos=1)
            await provisioning.revoke("lock-1", "admin")
            with pytest.raises(aiomqtt.MqttError):
                async with asyncio.timeout(10):
                    async for _ in device.messages:
                        pass
