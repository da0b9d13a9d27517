"""Raw MQTT kiosks for the ticket tests: ``ticket.take`` as any MQTT client would send it."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from devices.contract import Channel, Topics
from hall.embedded_broker import free_port
from tests.support.controller import mqtt_client
from tests.support.mqtt_fixtures import EMBEDDED, BrokerProcess, wait_for_port


@dataclass(slots=True)
class Reply:
    request_id: str
    body: dict[str, Any]
    latency_s: float     # from just before the publish to the reply's arrival
    sent_at: float       # perf_counter() when the publish started
    replied_at: float    # perf_counter() when the reply arrived


@dataclass(slots=True)
class RawKiosk:
    """One MQTT connection; publishes ``req`` and collects every ``res`` (duplicates too)."""

    client: aiomqtt.Client
    topics: Topics
    device_id: str
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    async def listen(self) -> None:
        async for message in self.client.messages:
            body = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            self.replies.setdefault(body["id"], []).append(body)
            waiter = self._waiting.pop(body["id"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(body)

    async def request(self, method: str, params: dict[str, Any], *, request_id: str | None = None,
                      timeout_s: float = 20.0) -> Reply:
        request_id = request_id or str(uuid.uuid4())
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = waiter
        started = time.perf_counter()
        await self.client.publish(self.topics.device(self.device_id, Channel.REQ),
                                  json.dumps({"id": request_id, "method": method,
                                              "params": params}).encode(), qos=1)
        async with asyncio.timeout(timeout_s):
            body = await waiter
        replied = time.perf_counter()
        return Reply(request_id, body, replied - started, started, replied)

    async def take(self, service: str, **params: Any) -> Reply:
        return await self.request("ticket.take", {"service": service, **params})


@asynccontextmanager
async def raw_kiosks(broker_url: str, prefix: str, count: int,
                     name: str = "kiosk") -> AsyncIterator[list[RawKiosk]]:
    """``count`` kiosks, each its own MQTT connection subscribed to its ``res`` topic."""
    topics = Topics(prefix)
    async with AsyncExitStack() as stack, asyncio.TaskGroup() as tasks:
        kiosks: list[RawKiosk] = []

        async def connect(i: int) -> RawKiosk:
            device_id = f"{name}-{i:03d}"
            client = await stack.enter_async_context(
                mqtt_client(broker_url, f"{device_id}-{uuid.uuid4().hex[:6]}"))
            await client.subscribe(topics.device(device_id, Channel.RES), qos=1)
            # Like a kiosk's firmware should: no Nagle, or each request waits ~40 ms for a
            # delayed TCP ack (paho does not set TCP_NODELAY).
            sock = client._client.socket()
            if isinstance(sock, socket.socket):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return RawKiosk(client, topics, device_id)

        # A few at a time: hundreds of simultaneous CONNECTs are a test of the broker's
        # accept queue, not of ticket.take.
        for start in range(0, count, 50):
            kiosks.extend(await asyncio.gather(*(connect(i) for i in range(start, min(count, start + 50)))))
        listeners = [tasks.create_task(k.listen(), name=f"listen-{k.device_id}") for k in kiosks]
        try:
            yield kiosks
        finally:
            for listener in listeners:
                listener.cancel()


async def after_markers(kiosks: list[RawKiosk]) -> int:
    """Every kiosk sends one more request (``device.time``, which takes no ticket) and hears
    its reply: the event a "nothing more came" check waits for, instead of a fixed sleep.

    A controller counts a request when its batch is parsed, in the order the broker gave it
    the messages; so once the markers are answered, a request handled twice (a redelivery,
    or both controllers of a shared subscription) is in the counters, which is the check
    that holds. Returns how many requests the markers added to the counters."""
    replies = await asyncio.gather(*(k.request("device.time", {}) for k in kiosks))
    assert all(r.body["ok"] for r in replies), [r.body for r in replies if not r.body["ok"]][:3]
    return len(kiosks)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def burst_summary(replies: list[Reply]) -> str:
    """How long the sending side itself took to get all requests out, and the whole burst."""
    first = min(r.sent_at for r in replies)
    return (f"requests published over {(max(r.sent_at for r in replies) - first) * 1000:.0f} ms, "
            f"all answered after {(max(r.replied_at for r in replies) - first) * 1000:.0f} ms")


def latency_summary(latencies_s: list[float]) -> str:
    ms = [v * 1000 for v in latencies_s]
    return (f"n={len(ms)} p50={percentile(ms, 50):.1f} ms p90={percentile(ms, 90):.1f} ms "
            f"p99={percentile(ms, 99):.1f} ms max={max(ms):.1f} ms mean={statistics.fmean(ms):.1f} ms")


@pytest.fixture
def mosquitto_url(broker_url: str) -> Iterator[str]:
    """A real Mosquitto: the machine's, or a private one when the other tests run embedded
    (amqtt has no shared subscriptions, and the scale-out checks need them)."""
    if not EMBEDDED:
        yield broker_url
        return
    broker = BrokerProcess(embedded=False)
    broker.start()
    try:
        yield broker.url
    finally:
        broker.stop()



# The delivery options of deploy/mosquitto/hall.conf (the rest of it is auth, persistence
# paths and logging, which a throwaway test broker does without).
SHIPPED_DELIVERY_OPTIONS = """
set_tcp_nodelay true
max_inflight_messages 1000
max_queued_messages 1000000
max_queued_bytes 268435456
"""


@pytest.fixture
def shipped_mosquitto_url(tmp_path: Path) -> Iterator[str]:
    """A Mosquitto of this test's own with the shipped config's delivery options (in both
    test modes: amqtt has no shared subscriptions)."""
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n{SHIPPED_DELIVERY_OPTIONS}",
                    encoding="utf-8")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)
