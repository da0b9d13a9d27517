"""The edge agent against a real broker: presence, commands, requests, and the outbox in an outage.

Every test has its own topic prefix and its own device ids (agents keep persistent sessions keyed
by the device id, so a shared broker must never see two tests use one id).
``HALL_TEST_OUTAGE_S`` sets how long the broker is down in the outage test (default 6; the
issue's acceptance check is 30).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import pytest

from devices.contract import Command, now_ms
from devices.kinds import DeviceKind
from devices.signing import derive_device_key, sign_command
from edge import AgentSettings, CommandRefused, EdgeAgent, RequestTimeout, UnknownMethod
from edge.driver import DeviceHandle, TelemetryScalar
from hall.embedded_broker import free_port
from simulators import SimulatedQueueDisplay, build_fleet, run_agents
from simulators.fleet import DEMO_MASTER_SECRET, MAX_STAGGER_S, start_delays
from tests.support.mqtt_fixtures import BrokerProcess
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

OUTAGE_S = float(os.environ.get("HALL_TEST_OUTAGE_S", "6"))
REPO_ROOT = Path(__file__).resolve().parents[2]
FAR_FUTURE = 32503680000000 - 1


# --- helpers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


class Watcher:
    """A raw aiomqtt subscriber recording every message under a prefix."""

    def __init__(self, url: str, prefix: str) -> None:
        self.host, self.port = host_port(url)
        self.prefix = prefix
        self.messages: list[Received] = []
        self._client: aiomqtt.Client | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        identifier = f"watch-{uuid.uuid4().hex[:8]}"
        self._client = aiomqtt.Client(self.host, self.port, identifier=identifier)
        await self._client.__aenter__()
        await self._client.subscribe(f"{self.prefix}/#", qos=1)
        self._reader = asyncio.create_task(self._read(self._client))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._reader
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(None, None, None)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            self.messages.append(Received(message.topic.value, message.payload))

    async def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        assert self._client is not None
        await self._client.publish(f"{self.prefix}/{topic}", payload, qos=1, retain=retain)

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == f"{self.prefix}/{topic}"]

    async def wait_for(
        self, topic: str, predicate: Callable[[Any], bool] = lambda _: True, timeout_s: float = 15.0
    ) -> Any:
        """The JSON of the first message on ``topic`` that satisfies ``predicate``."""
        def matching() -> list[Any]:
            for message in self.on(topic):
                with contextlib.suppress(ValueError):
                    body = message.json()
                    if predicate(body):
                        return [body]
            return []
        try:
            [body] = await eventually(matching, timeout_s, f"a match on {topic}", interval_s=0.02)
        except AssertionError:
            seen = [m.payload[:200] for m in self.on(topic)]
            raise AssertionError(f"nothing matching on {topic} in {timeout_s} s; saw {seen}") from None
        return body


async def retained(url: str, topic: str, timeout_s: float = 5.0) -> Any:
    """What a brand-new subscriber gets on ``topic``: the retained message, as JSON."""
    host, port = host_port(url)
    async with aiomqtt.Client(host, port, identifier=f"peek-{uuid.uuid4().hex[:8]}") as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(timeout_s):
            async for message in client.messages:
                # amqtt 0.12 also hands a new client the retained messages of every other
                # client's subscriptions; only ours count.
                if message.topic.value == topic:
                    assert isinstance(message.payload, bytes)
                    return json.loads(message.payload)
    raise AssertionError("unreachable")


class CountingDriver:
    """A driver whose telemetry counts up, so order and loss are visible in the samples."""

    def __init__(self) -> None:
        self.samples = 0
        self.executed: list[tuple[str, dict[str, Any]]] = []

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        self.samples += 1
        return {"n": self.samples, "state": "ok"}

    async def run(self, device: DeviceHandle) -> None:
        return None

    async def handle_command(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.executed.append((method, dict(params)))
        if method == "device.ping":
            return {"pong": now_ms()}
        if method == "test.refuse":
            raise CommandRefused("busy", "not now")
        if method == "test.crash":
            raise RuntimeError("driver bug")
        raise UnknownMethod(method)


@pytest.fixture
async def device_id(broker_url: str, topic_prefix: str) -> AsyncIterator[str]:
    """A device id of this test's own; the broker forgets it afterwards.

    The shared broker outlives the test run: its retained state is cleared, and connecting
    with clean_session=True discards the persistent session the agent left behind (Mosquitto
    keeps those forever otherwise).
    """
    did = f"t-{uuid.uuid4().hex[:10]}"
    yield did
    host, port = host_port(broker_url)
    async with aiomqtt.Client(host, port, identifier=did, clean_session=True) as client:
        await client.publish(f"{topic_prefix}/dev/{did}/state", b"", qos=1, retain=True)


def settings_for(url: str, prefix: str, device_id: str, data_dir: Path, **kw: Any) -> AgentSettings:
    values: dict[str, Any] = {"telemetry_interval_s": 0.2, "reconnect_min_s": 0.2,
                              "reconnect_max_s": 1.0, "site": "test-hall", "model": "test"}
    values.update(kw)
    return AgentSettings(device_id=device_id, kind=DeviceKind.KIOSK, broker_url=url,
                         topic_prefix=prefix, data_dir=data_dir / device_id, **values)


@contextlib.asynccontextmanager
async def running(settings: AgentSettings, driver: Any | None = None) -> AsyncIterator[EdgeAgent]:
    async with EdgeAgent(settings, driver or CountingDriver()) as agent:
        await agent.wait_connected(15)
        yield agent


def command(method: str, params: dict[str, Any] | None = None, *, cid: str | None = None,
            expires_at: int = FAR_FUTURE) -> str:
    return json.dumps({"id": cid or str(uuid.uuid4()), "method": method, "params": params or {},
                       "expires_at": expires_at})


# --- presence -----------------------------------------------------------------------------------


async def test_birth_is_retained_and_the_session_grows_across_restarts(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    settings = settings_for(broker_url, topic_prefix, device_id, tmp_path)
    state_topic = f"{topic_prefix}/dev/{device_id}/state"

    async with running(settings):
        birth = await retained(broker_url, state_topic)
    goodbye = await retained(broker_url, state_topic)
    async with running(settings):
        second = await retained(broker_url, state_topic)

    assert birth["online"] is True
    assert birth["session"] == 1
    assert {k: birth[k] for k in ("kind", "model", "fw", "site")} == {
        "kind": "kiosk", "model": "test", "fw": "1.0.0", "site": "test-hall"}
    assert goodbye["online"] is False
    assert goodbye["session"] == 1
    assert second["online"] is True
    assert second["session"] == 2


async def test_the_will_marks_a_killed_agent_offline_with_its_session(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    state_topic = f"dev/{device_id}/state"
    cmd = [sys.executable, "-m", "simulators.agent_process", "--device-id", device_id,
           "--kind", "door_lock", "--broker-url", broker_url, "--prefix", topic_prefix,
           "--data-dir", str(tmp_path / device_id), "--telemetry-interval-s", "0.5"]
    async with Watcher(broker_url, topic_prefix) as watcher:
        proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO_ROOT)
        try:
            birth = await watcher.wait_for(state_topic, lambda s: s["online"] is True, timeout_s=20)
            await watcher.wait_for(f"dev/{device_id}/telemetry")
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), timeout=10)
            will = await watcher.wait_for(state_topic, lambda s: s["online"] is False)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    assert birth["kind"] == "door_lock"
    assert will == {"online": False, "session": birth["session"]}
    assert await retained(broker_url, f"{topic_prefix}/{state_topic}") == will


async def test_the_agent_reannounces_once_per_controller_birth(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    state_topic = f"dev/{device_id}/state"
    async with Watcher(broker_url, topic_prefix) as watcher, \
            running(settings_for(broker_url, topic_prefix, device_id, tmp_path)) as agent:
        await watcher.wait_for(state_topic, lambda s: s["online"] is True)
        births_before = len(watcher.on(state_topic))

        birth = json.dumps({"online": True, "session": 1, "ts": now_ms()})
        await watcher.publish("controller/state", birth, retain=True)
        try:
            await watcher.wait_for(state_topic,
                                   lambda _: len(watcher.on(state_topic)) == births_before + 1)
            # The same birth again (a retained copy, delivered twice): nothing to say.
            await watcher.publish("controller/state", birth)
            await handled_so_far(watcher, device_id)
            assert len(watcher.on(state_topic)) == births_before + 1
            # A restarted controller: a new birth, a new announcement.
            await watcher.publish("controller/state",
                                  json.dumps({"online": True, "session": 2, "ts": now_ms()}))
            await watcher.wait_for(state_topic,
                                   lambda _: len(watcher.on(state_topic)) > births_before + 1)
        finally:
            await watcher.publish("controller/state", b"", retain=True)  # clear the retained one
        await handled_so_far(watcher, device_id)

        again = watcher.on(state_topic)[-1].json()
        assert len(watcher.on(state_topic)) == births_before + 2
        assert again["online"] is True
        assert again["session"] == agent.session
        assert agent.stats.malformed_messages == 0  # the cleared retained state is no error


async def handled_so_far(watcher: Watcher, device_id: str) -> None:
    """A ping, answered: the agent handles what arrives in order, and a re-announcement it
    decided on before the ping is published before the ping's ack (both leave in order)."""
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    await watcher.publish(f"dev/{device_id}/cmd", command("device.ping", cid=marker))
    await watcher.wait_for(f"dev/{device_id}/cmd/ack", lambda a: a["id"] == marker)


def test_the_mqtt_username_is_the_url_s_or_else_the_device_id(tmp_path: Path) -> None:
    def username(url: str) -> str:
        return settings_for(url, "hall/v1", "kiosk-01", tmp_path).mqtt_username

    assert username("mqtt://127.0.0.1:1883") == "kiosk-01"
    assert username("mqtt://:secret@127.0.0.1") == "kiosk-01"
    assert username("mqtt://edge%2Fkiosk:secret@127.0.0.1") == "edge/kiosk"


async def test_a_command_sent_while_the_agent_was_away_is_delivered_when_it_returns(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    """The agent's persistent session holds it.  The broker URL has no username: on the
    embedded amqtt broker only a named client keeps its session, so this needs the agent to
    connect with its device id as the username."""
    assert urlsplit(broker_url).username is None
    settings = settings_for(broker_url, topic_prefix, device_id, tmp_path)
    driver = CountingDriver()
    async with Watcher(broker_url, topic_prefix) as watcher:
        async with running(settings, driver):
            pass
        await watcher.wait_for(f"dev/{device_id}/state", lambda s: s["online"] is False)
        await watcher.publish(f"dev/{device_id}/cmd", command("device.ping", cid="c-away"))
        async with running(settings, driver):
            ack = await watcher.wait_for(f"dev/{device_id}/cmd/ack",
                                         lambda a: a["id"] == "c-away")

    assert ack["ok"] is True
    assert driver.executed == [("device.ping", {})]


# --- commands and requests ----------------------------------------------------------------------


async def test_a_command_is_executed_and_acked(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    driver = CountingDriver()
    ack_topic = f"dev/{device_id}/cmd/ack"
    async with Watcher(broker_url, topic_prefix) as watcher, \
            running(settings_for(broker_url, topic_prefix, device_id, tmp_path), driver):
        await watcher.publish(f"dev/{device_id}/cmd", command("device.ping", cid="c-ping"))
        await watcher.publish(f"dev/{device_id}/cmd", command("test.refuse", cid="c-refuse"))
        await watcher.publish(f"dev/{device_id}/cmd", command("no.such_thing", cid="c-unknown"))
        await watcher.publish(f"dev/{device_id}/cmd", command("test.crash", cid="c-crash"))

        ping = await watcher.wait_for(ack_topic, lambda a: a["id"] == "c-ping")
        refused = await watcher.wait_for(ack_topic, lambda a: a["id"] == "c-refuse")
        unknown = await watcher.wait_for(ack_topic, lambda a: a["id"] == "c-unknown")
        crashed = await watcher.wait_for(ack_topic, lambda a: a["id"] == "c-crash")

    assert ping["ok"] is True
    assert abs(ping["result"]["pong"] - now_ms()) < 60_000
    assert refused == {"id": "c-refuse", "ok": False,
                       "error": {"code": "busy", "message": "not now"}}
    assert unknown["ok"] is False
    assert unknown["error"]["code"] == "unknown_method"
    assert crashed["error"]["code"] == "internal_error"


async def test_an_expired_command_is_refused_without_running(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    driver = CountingDriver()
    async with Watcher(broker_url, topic_prefix) as watcher, \
            running(settings_for(broker_url, topic_prefix, device_id, tmp_path), driver) as agent:
        await watcher.publish(f"dev/{device_id}/cmd",
                              command("device.ping", cid="c-old", expires_at=now_ms() - 1000))
        ack = await watcher.wait_for(f"dev/{device_id}/cmd/ack", lambda a: a["id"] == "c-old")

    assert ack["ok"] is False
    assert ack["error"]["code"] == "expired"
    assert driver.executed == []
    assert agent.stats.commands.expired == 1


async def test_a_duplicate_command_runs_once_and_gets_the_same_ack(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    driver = CountingDriver()
    ack_topic = f"dev/{device_id}/cmd/ack"
    async with Watcher(broker_url, topic_prefix) as watcher, \
            running(settings_for(broker_url, topic_prefix, device_id, tmp_path), driver):
        payload = command("device.ping", cid="c-twice")
        await watcher.publish(f"dev/{device_id}/cmd", payload)
        await watcher.publish(f"dev/{device_id}/cmd", payload)
        await watcher.wait_for(ack_topic, lambda _: len(watcher.on(ack_topic)) >= 2)

    first, second = (m.json() for m in watcher.on(ack_topic))
    assert first == second
    assert first["ok"] is True
    assert driver.executed == [("device.ping", {})]


async def test_malformed_commands_are_counted_and_the_agent_carries_on(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    ack_topic = f"dev/{device_id}/cmd/ack"
    async with Watcher(broker_url, topic_prefix) as watcher, \
            running(settings_for(broker_url, topic_prefix, device_id, tmp_path)) as agent:
        for junk in (b"\xff\xfe not utf-8", b"not json", b"[1, 2]", b'{"method": "device.ping"}',
                     json.dumps({"id": "c-bad", "method": "Not A Name", "expires_at": 1})):
            await watcher.publish(f"dev/{device_id}/cmd", junk)
        await watcher.publish(f"dev/{device_id}/cmd", command("device.ping", cid="c-after"))

        after = await watcher.wait_for(ack_topic, lambda a: a["id"] == "c-after")
        bad = await watcher.wait_for(ack_topic, lambda a: a["id"] == "c-bad")

    assert after["ok"] is True
    assert bad["ok"] is False
    assert bad["error"]["code"] == "invalid_command"
    assert agent.stats.commands.malformed == 5
    assert agent.stats.connection_losses == 0


async def test_a_request_gets_its_response_by_id(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    async with Watcher(broker_url, topic_prefix) as watcher, \
            running(settings_for(broker_url, topic_prefix, device_id, tmp_path)) as agent:

        async def controller() -> None:
            req = await watcher.wait_for(f"dev/{device_id}/req")
            await watcher.publish(f"dev/{device_id}/res",
                                  json.dumps({"id": "someone-else", "ok": True}))
            await watcher.publish(f"dev/{device_id}/res", json.dumps(
                {"id": req["id"], "ok": True, "result": {"ticket": "A012", "waiting_ahead": 3}}))

        responder = asyncio.create_task(controller())
        response = await agent.request("ticket.take", {"service": "card"}, timeout_s=10)
        await responder
        with pytest.raises(RequestTimeout):
            await agent.request("ticket.take", {"service": "card"}, timeout_s=0.3)

    request = watcher.on(f"dev/{device_id}/req")[0].json()
    assert request["method"] == "ticket.take"
    assert request["params"] == {"service": "card"}
    assert response.ok is True
    assert response.result == {"ticket": "A012", "waiting_ahead": 3}


# --- the outbox across outages ------------------------------------------------------------------


class TcpGate:
    """A TCP forwarder to the broker that the test can shut (refusing connections) and open.

    The agent reaches the broker only through it, so the test decides when the agent may
    reconnect: after the watcher is subscribed to the restarted broker.
    """

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def shut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._links):
            task.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        except OSError:
            writer.close()
            self._links.discard(task)
            return
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._pipe(reader, up_writer))
                tg.create_task(self._pipe(up_reader, writer))
        except* OSError:
            pass
        finally:
            writer.close()
            up_writer.close()
            self._links.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()


@pytest.fixture
async def gate(private_broker: BrokerProcess) -> AsyncIterator[TcpGate]:
    gate = TcpGate(private_broker.port)
    await gate.open()
    yield gate
    await gate.shut()


class DropOnFirstPublish(TcpGate):
    """A gate that closes the first connection through it when the client's first PUBLISH
    (an agent's birth) comes along, without forwarding it: the client loses its connection
    while it waits for a PUBACK.  Later connections pass untouched."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.dropped = asyncio.Event()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.dropped.is_set():
            await super()._link(reader, writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        down = asyncio.create_task(self._pipe(up_reader, writer))
        try:
            while True:
                packet = await read_mqtt_packet(reader)
                if packet[0] >> 4 == 3:  # PUBLISH
                    break
                up_writer.write(packet)
                await up_writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.dropped.set()
            down.cancel()
            writer.close()
            up_writer.close()
            self._links.discard(task)


async def read_mqtt_packet(reader: asyncio.StreamReader) -> bytes:
    """One whole MQTT control packet: fixed header, remaining length, the rest."""
    header = await reader.readexactly(1)
    length_bytes = b""
    length, multiplier = 0, 1
    while True:
        byte = await reader.readexactly(1)
        length_bytes += byte
        length += (byte[0] & 0x7F) * multiplier
        multiplier *= 128
        if not byte[0] & 0x80:
            break
    return header + length_bytes + await reader.readexactly(length)


async def test_a_connection_lost_while_announcing_is_noticed_at_once(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    """Not after mqtt_timeout_s without a PUBACK, and without leaving aiomqtt's disconnect
    error unretrieved ("Future exception was never retrieved" in the demo console)."""
    gate = DropOnFirstPublish(host_port(broker_url)[1])
    await gate.open()
    settings = settings_for(gate.url, topic_prefix, device_id, tmp_path, mqtt_timeout_s=60)
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        started = loop.time()
        async with running(settings) as agent:
            reconnected_after = loop.time() - started
            losses = agent.stats.connection_losses
            gc.collect()  # the lost connection's client is garbage by now
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous_handler)
        await gate.shut()

    assert gate.dropped.is_set()
    assert losses == 1
    assert reconnected_after < 5  # the reconnect backoff, not the 60 s MQTT timeout
    assert [c.get("message") for c in reported] == []


def event_numbers(messages: list[Received]) -> list[int]:
    """The ``n`` of every distinct event, in order of first arrival (redeliveries are fine)."""
    seen: set[str] = set()
    out: list[int] = []
    for message in messages:
        event = message.json()
        if event["id"] not in seen:
            seen.add(event["id"])
            out.append(event["data"]["n"])
    return out


def sample_numbers(messages: list[Received]) -> list[int]:
    """The counter of every telemetry sample, whether sent alone or in a list."""
    bodies = [m.json() for m in messages]
    return [s["values"]["n"] for b in bodies for s in (b if isinstance(b, list) else [b])]


async def test_events_and_telemetry_from_a_broker_outage_arrive_in_order_after_it(
    private_broker: BrokerProcess, gate: TcpGate, topic_prefix: str, tmp_path: Path
) -> None:
    device_id = f"t-{uuid.uuid4().hex[:10]}"
    settings = settings_for(gate.url, topic_prefix, device_id, tmp_path,
                            telemetry_interval_s=0.1)
    driver = CountingDriver()
    event_topic = f"dev/{device_id}/event"
    telemetry_topic = f"dev/{device_id}/telemetry"

    async with EdgeAgent(settings, driver) as agent:
        await agent.wait_connected(15)
        async with Watcher(private_broker.url, topic_prefix) as before:
            for n in range(5):
                await agent.emit_event("test.seq", {"n": n})
            await before.wait_for(event_topic, lambda e: e["data"]["n"] == 4)
            await before.wait_for(telemetry_topic)

            # The outage: the broker dies, and the agent's way to it with it.
            await gate.shut()
            await asyncio.to_thread(private_broker.stop)
            cut_at = driver.samples  # later samples cannot have reached the broker
            outage_events = range(5, 5 + int(OUTAGE_S * 10))
            for n in outage_events:
                await agent.emit_event("test.seq", {"n": n})
                await asyncio.sleep(0.1)
            assert not agent.is_connected
            backlog = agent.outbox.size

        await asyncio.to_thread(private_broker.start)
        async with Watcher(private_broker.url, topic_prefix) as after:
            await gate.open()  # only now may the agent reconnect and flush
            await agent.wait_connected(15)
            last_event, last_sample = outage_events[-1], driver.samples
            await after.wait_for(event_topic, lambda e: e["data"]["n"] == last_event, timeout_s=30)
            await after.wait_for(telemetry_topic, lambda _: last_sample in sample_numbers(
                after.on(telemetry_topic)), timeout_s=30)

    assert backlog >= len(outage_events)
    events = event_numbers(before.on(event_topic) + after.on(event_topic))
    assert events == list(range(last_event + 1)), "events lost or out of order"

    flushed = [m.json() for m in after.on(telemetry_topic)]
    assert any(isinstance(m, list) and len(m) > 1 for m in flushed), \
        "the telemetry backlog was not flushed as JSON lists"
    samples = sample_numbers(after.on(telemetry_topic))
    assert samples == sorted(samples), "telemetry out of order"
    assert set(range(cut_at + 1, last_sample + 1)) <= set(samples), "telemetry lost"
    assert agent.telemetry_shed == 0


async def test_events_queued_while_the_broker_was_never_reachable_survive_a_restart(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    nowhere = f"mqtt://127.0.0.1:{free_port()}"
    offline = settings_for(nowhere, topic_prefix, device_id, tmp_path, telemetry_interval_s=60)
    async with EdgeAgent(offline, CountingDriver()) as agent:
        ids = [await agent.emit_event("test.seq", {"n": n}) for n in range(20)]
    # The agent is gone; its outbox file holds the events.

    online = settings_for(broker_url, topic_prefix, device_id, tmp_path, telemetry_interval_s=60)
    async with Watcher(broker_url, topic_prefix) as watcher, running(online):
        await watcher.wait_for(f"dev/{device_id}/event", lambda e: e["data"]["n"] == 19)

    events = [m.json() for m in watcher.on(f"dev/{device_id}/event")]
    assert [e["id"] for e in events] == ids


async def test_telemetry_reports_how_many_samples_the_full_outbox_shed(tmp_path: Path) -> None:
    nowhere = f"mqtt://127.0.0.1:{free_port()}"
    settings = settings_for(nowhere, "hall/v1", "t-shed", tmp_path, telemetry_interval_s=0.02,
                            outbox_max_rows=3)
    async with EdgeAgent(settings, CountingDriver()) as agent:
        await eventually(lambda: agent.telemetry_shed >= 5, what="five samples shed",
                         interval_s=0.02)
        held = [json.loads(r.payload)["values"] for r in await agent.outbox.peek(10)]

    assert len(held) == 3
    # Sample n was taken after n - 1 others, of which all but the 3 the outbox holds were shed.
    assert [v["agent.telemetry_shed"] for v in held] == [v["n"] - 4 for v in held]


# --- the simulated fleet ------------------------------------------------------------------------


def test_a_fleet_spreads_its_first_connects() -> None:
    demo = start_delays(12)
    assert demo[0] == 0
    assert demo == sorted(demo)
    assert 0.8 < demo[-1] < 1.0  # 12 devices: 83 ms apart
    large = start_delays(400)
    assert large[-1] < MAX_STAGGER_S <= 2.0
    assert min(b - a for a, b in itertools.pairwise(large)) >= 0.004
    assert start_delays(1) == [0.0]
    assert start_delays(0) == []



async def test_a_simulated_fleet_announces_reports_and_obeys(
    private_broker: BrokerProcess, topic_prefix: str, tmp_path: Path
) -> None:
    agents = build_fleet(private_broker.url, topic_prefix, tmp_path, devices_per_kind=1,
                         telemetry_interval_s=0.3, speed=30.0)
    by_id = {agent.device_id: agent for agent in agents}
    assert sorted(by_id) == ["display-01", "gate-01", "kiosk-01", "lock-01"]

    async with Watcher(private_broker.url, topic_prefix) as watcher:
        fleet = asyncio.create_task(run_agents(agents))
        try:
            for device in by_id:
                await watcher.wait_for(f"dev/{device}/state", lambda s: s["online"] is True)
                await watcher.wait_for(f"dev/{device}/telemetry")
            await watcher.publish("dev/display-01/cmd", command(
                "display.call", {"ticket": "A012", "window": 3, "text": "请 A012 号到 3 号窗口"},
                cid="c-call"))
            await watcher.publish("dev/display-01/cmd", command(
                "display.set_brightness", {"brightness": 140}, cid="c-bright"))
            signed = sign_command(Command(id="c-unlock", method="door.unlock",
                                          params={"duration_s": 5}, expires_at=now_ms() + 8_000),
                                  "lock-01", derive_device_key(DEMO_MASTER_SECRET, "lock-01"))
            await watcher.publish("dev/lock-01/cmd", signed.model_dump_json(exclude_none=True))
            await watcher.publish("dev/gate-01/cmd", command("device.reboot", cid="c-reboot"))
            call = await watcher.wait_for("dev/display-01/cmd/ack", lambda a: a["id"] == "c-call")
            bright = await watcher.wait_for("dev/display-01/cmd/ack",
                                            lambda a: a["id"] == "c-bright")
            unlock = await watcher.wait_for("dev/lock-01/cmd/ack", lambda a: a["id"] == "c-unlock")
            reboot = await watcher.wait_for("dev/gate-01/cmd/ack", lambda a: a["id"] == "c-reboot")
            await watcher.wait_for("dev/lock-01/event", lambda e: e["type"] == "door.unlocked")
        finally:
            fleet.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fleet
        for device in by_id:  # cancelled agents still say goodbye themselves
            await watcher.wait_for(f"dev/{device}/state", lambda s: s["online"] is False)

    assert call["ok"] is True
    display = by_id["display-01"].driver
    assert isinstance(display, SimulatedQueueDisplay)
    assert display.last_call is not None
    assert (display.last_call.ticket, display.last_call.window) == ("A012", "3")
    assert bright["error"]["code"] == "invalid_params"
    assert unlock["ok"] is True
    assert reboot["result"] == {"rebooting": True}
    kiosk = [m.json() for m in watcher.on("dev/kiosk-01/telemetry")]
    values = kiosk[0]["values"] if isinstance(kiosk[0], dict) else kiosk[0][0]["values"]
    assert set(values) >= {"paper_level_pct", "printer_state", "cpu_temp_c"}
    assert values["agent.telemetry_shed"] == 0
