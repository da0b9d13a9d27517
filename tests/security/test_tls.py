"""TLS on the device network, tested the way an attacker or a misconfiguration would meet it.

Every broker here is real and TLS-only, with certificates made by hall/tls.py in tmp_path: a
Mosquitto of the test's own, or the embedded amqtt broker the demo runs. What is shown: the
controller and an agent holding the CA talk over TLS end to end; plain TCP and a client that
does not trust the broker's CA are refused; a broker that requires client certificates refuses
an expired one and accepts a valid one; and an ``mqtts://`` URL never falls back to plain TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import getpass
import logging
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from devices.broker_address import BrokerAddress, with_tls_files
from devices.contract import Topics
from devices.kinds import DeviceKind
from hall.embedded_broker import embedded_broker, free_port
from hall.tls import (
    BrokerCertificates,
    create_ca,
    ensure_broker_certificates,
    issue_certificate,
    load_ca,
    write_certificate,
    write_private_key,
)
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.kernel.bus import InboundMessage
from hall_controller.kernel.mqtt_bus import MqttBus
from simulators.fleet import build_agent
from tests.support.controller import mqtt_client, running_controller
from tests.support.mqtt_fixtures import wait_for_port
from tests.support.tls_mosquitto import TlsMosquitto
from tests.support.waiting import eventually

LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def certificates(tmp_path: Path) -> BrokerCertificates:
    return ensure_broker_certificates(tmp_path / "hall-data")


@pytest.fixture
def tls_mosquitto(certificates: BrokerCertificates) -> Iterator[TlsMosquitto]:
    with TlsMosquitto(certificates) as broker:
        yield broker


@contextlib.asynccontextmanager
async def tls_broker(kind: str, certificates: BrokerCertificates) -> AsyncIterator[str]:
    """A TLS-only broker's ``mqtts://...?ca=`` URL: Mosquitto, or the embedded amqtt."""
    if kind == "mosquitto":
        with TlsMosquitto(certificates) as broker:
            yield broker.url
    else:
        async with embedded_broker(tls=certificates) as url:
            yield url


def client_certificate(certificates: BrokerCertificates, folder: Path, name: str, *,
                       not_before: dt.datetime | None = None,
                       not_after: dt.datetime | None = None) -> tuple[str, str]:
    """A client certificate signed by the hall's CA, written as ``name.crt``/``name.key``."""
    certificate, key = issue_certificate(load_ca(certificates), name, not_before=not_before,
                                         not_after=not_after)
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    write_certificate(cert_file, certificate)
    write_private_key(key_file, key)
    return str(cert_file), str(key_file)


async def connects(url: str) -> None:
    """Connect, publish at QoS 1 (a PUBACK proves the broker accepted us) and disconnect."""
    async with mqtt_client(url, timeout=5) as client:
        await client.publish(f"probe/{uuid.uuid4().hex}", b"tls", qos=1)


# -- (1) and (5): the controller and an agent end to end over TLS ----------------------------------


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
async def test_an_agent_s_telemetry_reaches_the_controller_over_tls(
        broker: str, certificates: BrokerCertificates, topic_prefix: str, store: PostgresStore,
        tmp_path: Path) -> None:
    async with tls_broker(broker, certificates) as url:
        assert BrokerAddress.parse(url).tls is not None
        async with running_controller(url, topic_prefix, store):
            agent = build_agent(url, topic_prefix, tmp_path / "edge", device_id="kiosk-tls",
                                kind=DeviceKind.KIOSK, telemetry_interval_s=0.2)
            async with agent:
                await agent.wait_connected(15)

                async def telemetry_stored() -> bool:
                    latest = await store.latest_values(["kiosk-tls"])
                    return bool(latest.get("kiosk-tls"))

                await eventually(telemetry_stored, 15, "the agent's telemetry committed")
                record = await store.get_device("kiosk-tls")
                assert record is not None and record.online


# -- (2): no plain TCP, and no falling back to it --------------------------------------------------


async def test_plain_mqtt_to_the_tls_only_port_is_refused(tls_mosquitto: TlsMosquitto) -> None:
    with pytest.raises(aiomqtt.MqttError):
        await connects(f"mqtt://127.0.0.1:{tls_mosquitto.port}")
    await connects(tls_mosquitto.url)  # the same port over TLS: the broker is there


async def test_an_mqtts_agent_never_falls_back_to_a_plain_broker(
        broker_url: str, certificates: BrokerCertificates, topic_prefix: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The plain broker would accept a plain connection: an agent told mqtts:// to its port
    keeps failing the TLS handshake instead, and never shows up there."""
    plain = BrokerAddress.parse(broker_url)
    url = with_tls_files(f"mqtts://{plain.host}:{plain.port}", ca_file=str(certificates.ca_file))
    async with mqtt_client(broker_url) as watcher:
        await watcher.subscribe(f"{topic_prefix}/#", qos=1)
        agent = build_agent(url, topic_prefix, tmp_path / "edge", device_id="kiosk-downgrade",
                            kind=DeviceKind.KIOSK, telemetry_interval_s=0.1)
        with caplog.at_level(logging.WARNING, logger="edge.connection"):
            async with agent:
                def failed_twice() -> bool:
                    return sum("kiosk-downgrade" in r.getMessage()
                               for r in caplog.records) >= 2
                await eventually(failed_twice, 20, "two refused connection attempts")
                assert agent.stats.connects == 0
        # Nothing the agent said reached the plain broker: a marker sent after it arrives alone.
        await watcher.publish(f"{topic_prefix}/marker", b"end", qos=1)
        async with asyncio.timeout(10):
            first = await anext(aiter(watcher.messages))
        assert first.topic.value == f"{topic_prefix}/marker"


# -- (3): a client that does not trust the broker's CA ---------------------------------------------


async def test_a_client_with_another_ca_is_refused_naming_the_certificate(
        tls_mosquitto: TlsMosquitto, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.crt"
    write_certificate(other_ca, create_ca("Somebody else's CA").certificate)
    with pytest.raises(aiomqtt.MqttError, match="certificate verify failed"):
        await connects(with_tls_files(tls_mosquitto.address, ca_file=str(other_ca)))


async def test_the_controller_reports_an_untrusted_broker_and_stays_disconnected(
        tls_mosquitto: TlsMosquitto, tmp_path: Path, topic_prefix: str,
        caplog: pytest.LogCaptureFixture) -> None:
    other_ca = tmp_path / "other-ca.crt"
    write_certificate(other_ca, create_ca("Somebody else's CA").certificate)
    bus = MqttBus(with_tls_files(tls_mosquitto.address, ca_file=str(other_ca)),
                  Topics(topic_prefix), client_id=f"ctl-{uuid.uuid4().hex[:8]}")

    async def sink(message: InboundMessage) -> None:
        raise AssertionError("no message can arrive over a refused connection")

    with caplog.at_level(logging.ERROR, logger="hall_controller.kernel.mqtt_bus"):
        task = asyncio.create_task(bus.run(sink))
        try:
            record = await eventually(
                lambda: next((r for r in caplog.records if "TLS handshake" in r.getMessage()),
                             None), 15, "the TLS failure logged")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    message = record.getMessage()
    assert "certificate verify failed" in message
    assert f"mqtts://127.0.0.1:{tls_mosquitto.port}" in message
    assert not bus.connected.is_set()


async def test_a_ca_file_that_does_not_exist_fails_before_any_connection(
        tls_mosquitto: TlsMosquitto, tmp_path: Path, topic_prefix: str) -> None:
    missing = tmp_path / "no-such-ca.crt"
    with pytest.raises(ValueError, match=r"no-such-ca\.crt does not exist"):
        MqttBus(with_tls_files(tls_mosquitto.address, ca_file=str(missing)),
                Topics(topic_prefix), client_id="ctl-missing-ca")


# -- (4): client certificates ----------------------------------------------------------------------


async def test_a_broker_requiring_certificates_refuses_an_expired_one_and_accepts_a_valid_one(
        certificates: BrokerCertificates, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    expired = client_certificate(certificates, tmp_path, "kiosk-expired",
                                 not_before=LONG_AGO, not_after=LONG_AGO + dt.timedelta(days=30))
    valid = client_certificate(certificates, tmp_path, "kiosk-valid")
    with TlsMosquitto(certificates, require_certificate=True) as broker:
        def url(cert_key: tuple[str, str] | None) -> str:
            if cert_key is None:
                return broker.url
            return with_tls_files(broker.url, cert_file=cert_key[0], key_file=cert_key[1])

        with caplog.at_level(logging.ERROR), pytest.raises(aiomqtt.MqttError):
            await connects(url(expired))
        # TLS 1.3 reports a refused client certificate after the handshake: the client's
        # error is a timeout, the cause is in its log, and in the broker's.
        assert any("certificate expired" in r.getMessage() for r in caplog.records)
        assert "certificate" in broker.log_text()
        with pytest.raises(aiomqtt.MqttError):
            await connects(url(None))  # no certificate at all
        await connects(url(valid))


# -- the hall command: hall simulate and hall edge over mqtts --------------------------------------


HALL = [sys.executable, "-m", "hall.cli"]


@contextlib.contextmanager
def hall_process(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    log = cwd / "hall.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*HALL, *args], env={**os.environ, **env}, cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def first_telemetry(url: str, prefix: str, proc: subprocess.Popen[str], log: Path) -> str:
    """The device id of the first telemetry message under ``prefix`` (fails if hall exits)."""
    async with mqtt_client(url) as watcher:
        await watcher.subscribe(f"{prefix}/dev/+/telemetry", qos=1)

        async def next_message() -> aiomqtt.Message:
            return await anext(aiter(watcher.messages))

        receive = asyncio.ensure_future(next_message())
        try:
            def arrived_or_exited() -> bool:
                if proc.poll() is not None:
                    raise AssertionError(f"hall exited with {proc.returncode}:\n{log.read_text()}")
                return receive.done()
            await eventually(arrived_or_exited, 30, "telemetry from the hall's devices")
        finally:
            receive.cancel()
        return receive.result().topic.value.split("/")[-2]


async def test_hall_simulate_sends_over_mqtts_with_the_configured_ca(
        tls_mosquitto: TlsMosquitto, certificates: BrokerCertificates, topic_prefix: str,
        tmp_path: Path) -> None:
    env = {"HALL_MQTT_URL": tls_mosquitto.address, "HALL_DATA_DIR": str(tmp_path / "data"),
           "HALL_MQTT_TLS_CA_FILE": str(certificates.ca_file),
           "HALL_MQTT_TOPIC_PREFIX": topic_prefix}
    with hall_process(["simulate", "--devices", "2", "--interval", "0.2"], env, tmp_path) as proc:
        assert await first_telemetry(tls_mosquitto.url, topic_prefix, proc, tmp_path / "hall.log")


async def test_hall_edge_presents_its_certificate_to_a_broker_that_requires_one(
        certificates: BrokerCertificates, topic_prefix: str, tmp_path: Path) -> None:
    cert_file, key_file = client_certificate(certificates, tmp_path, "kiosk-7")
    env = {"HALL_DATA_DIR": str(tmp_path / "data"), "HALL_MQTT_TOPIC_PREFIX": topic_prefix,
           "HALL_MQTT_TLS_CA_FILE": str(certificates.ca_file), "HALL_EDGE_DEVICE_ID": "kiosk-7",
           "HALL_EDGE_TLS_CERT_FILE": cert_file, "HALL_EDGE_TLS_KEY_FILE": key_file}
    with TlsMosquitto(certificates, require_certificate=True) as broker:
        env["HALL_MQTT_URL"] = broker.address
        watcher_url = with_tls_files(broker.url, cert_file=cert_file, key_file=key_file)
        with hall_process(["edge"], env, tmp_path) as proc:
            assert await first_telemetry(watcher_url, topic_prefix, proc,
                                         tmp_path / "hall.log") == "kiosk-7"


def test_hall_refuses_mqtts_without_a_ca_before_connecting(tmp_path: Path) -> None:
    done = subprocess.run([*HALL, "simulate", "--devices", "1"], cwd=tmp_path, text=True,
                          capture_output=True, timeout=60,
                          env={**os.environ, "HALL_MQTT_URL": "mqtts://127.0.0.1:8883"},
                          check=False)
    assert done.returncode == 2
    assert "no CA is given: set mqtt.tls_ca_file" in done.stderr


# -- the shipped Mosquitto config ------------------------------------------------------------------


SHIPPED_CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "hall.conf"


def test_the_shipped_mosquitto_config_serves_tls_on_8883_and_plain_only_on_loopback(
        certificates: BrokerCertificates, tmp_path: Path) -> None:
    """deploy/mosquitto/hall.conf as shipped, with only its file paths and ports made this
    test's (and accounts left out: tests/security has its own for those)."""
    lines = [line.split("#", 1)[0].strip() for line in SHIPPED_CONF.read_text().splitlines()]
    lines = [line for line in lines if line]
    listeners = [line for line in lines if line.startswith("listener ")]
    assert listeners == ["listener 8883", "listener 1883 127.0.0.1"]
    tls_port, plain_port = free_port(), free_port()
    files = {"cafile": certificates.ca_file, "certfile": certificates.cert_file,
             "keyfile": certificates.key_file}
    replaced = {"listener 8883": f"listener {tls_port} 127.0.0.1",
                "listener 1883 127.0.0.1": f"listener {plain_port} 127.0.0.1"}
    dropped = ("password_file", "acl_file", "allow_anonymous", "persistence", "log_dest")
    conf = [f"user {getpass.getuser()}", "allow_anonymous true", "persistence false",
            f"log_dest file {tmp_path / 'mosquitto.log'}"]
    for line in lines:
        key = line.split()[0]
        if key in files:
            conf.append(f"{key} {files[key]}")
        elif not key.startswith(dropped):
            conf.append(replaced.get(line, line))
    (tmp_path / "hall.conf").write_text("\n".join(conf) + "\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(tmp_path / "hall.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", tls_port)
        wait_for_port("127.0.0.1", plain_port)
        # A username: the shipped listeners take it as the client id (no password file here).
        tls_url = with_tls_files(f"mqtts://probe:x@localhost:{tls_port}",
                                 ca_file=str(certificates.ca_file))
        asyncio.run(connects(tls_url))
        with pytest.raises(aiomqtt.MqttError):
            asyncio.run(connects(f"mqtt://probe:x@127.0.0.1:{tls_port}"))
        asyncio.run(connects(f"mqtt://probe:x@127.0.0.1:{plain_port}"))
        # No other listener: a listener option written before the first listener made
        # Mosquitto open a default one, plain, on every interface's 1883.
        log = (tmp_path / "mosquitto.log").read_text()
        opened = sorted(set(re.findall(r"listen socket on port (\d+)", log)))
        assert opened == sorted({str(tls_port), str(plain_port)}), log
    finally:
        proc.kill()
        proc.wait(timeout=10)
