"""Helpers to run a real controller and a raw-MQTT "device" inside a test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from devices.contract import Channel, Topics, now_ms
from hall_controller.fleet.ports import HallStore
from hall_controller.runtime import ControllerSettings, HallController
from tests.support.waiting import eventually

__all__ = ["RawDevice", "eventually", "mqtt_client", "raw_device", "running_controller"]


@contextlib.asynccontextmanager
async def running_controller(broker_url: str, prefix: str, store: HallStore,
                             **overrides: Any) -> AsyncIterator[HallController]:
    keep_session = overrides.pop("keep_session", False)
    # Everything HallController takes besides the settings (access store, cases, ...).
    wiring = {key: overrides.pop(key) for key in (
        "tickets", "cases", "wait_inputs", "ticket_cases", "clerk", "moves", "remote_tickets",
        "access", "command_secret") if key in overrides}
    settings = ControllerSettings(mqtt_url=broker_url, topic_prefix=prefix,
                                  client_id=overrides.pop("client_id", f"ctl-{uuid.uuid4().hex[:8]}"),
                                  presence_check_interval_s=overrides.pop("presence_check_interval_s", 0.2),
                                  **overrides)
    controller = HallController(settings, store, **wiring)
    async with controller.running():
        async with asyncio.timeout(10):
            await controller.bus.connected.wait()
        yield controller
    if not keep_session:
        # Don't leave a persistent session behind on the shared broker for every test run.
        async with mqtt_client(broker_url, settings.client_id, clean_session=True):
            pass


def mqtt_client(broker_url: str, client_id: str | None = None, **kwargs: Any) -> aiomqtt.Client:
    parts = urlsplit(broker_url)
    return aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883,
                          identifier=client_id or f"raw-{uuid.uuid4().hex[:8]}", **kwargs)


class RawDevice:
    """A device made of nothing but MQTT publishes, like a vendor's shell script."""

    def __init__(self, client: aiomqtt.Client, topics: Topics, device_id: str) -> None:
        self.client = client
        self.topics = topics
        self.device_id = device_id
        self._last_ts = 0

    def topic(self, channel: Channel) -> str:
        return self.topics.device(self.device_id, channel)

    async def send(self, channel: Channel, body: Any, *, retain: bool = False) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        await self.client.publish(self.topic(channel), payload, qos=1, retain=retain)

    async def birth(self, kind: str, session: int = 1, **extra: Any) -> None:
        await self.send(Channel.STATE, {"online": True, "session": session, "kind": kind,
                                        "model": "raw", "fw": "0.1", "ts": now_ms(), **extra},
                        retain=True)

    async def telemetry(self, values: dict[str, Any], ts: int | None = None) -> None:
        if ts is None:
            # A sample is identified by (device, metric, ts): two in the same millisecond would
            # be one sample delivered twice, so a fast-talking test device keeps its clock moving.
            ts = max(now_ms(), self._last_ts + 1)
        self._last_ts = ts
        await self.send(Channel.TELEMETRY, {"ts": ts, "values": values})

    async def event(self, type: str, data: dict[str, Any] | None = None,
                    event_id: str | None = None) -> str:
        event_id = event_id or str(uuid.uuid4())
        await self.send(Channel.EVENT, {"id": event_id, "ts": now_ms(), "type": type,
                                        "data": data or {}})
        return event_id


@contextlib.asynccontextmanager
async def raw_device(broker_url: str, prefix: str, device_id: str, *, session: int = 1,
                     will: bool = True) -> AsyncIterator[RawDevice]:
    topics = Topics(prefix)
    last_will = None
    if will:
        last_will = aiomqtt.Will(topics.device(device_id, Channel.STATE),
                                 json.dumps({"online": False, "session": session}).encode(),
                                 qos=1, retain=True)
    async with mqtt_client(broker_url, device_id + "-" + uuid.uuid4().hex[:4], will=last_will) as client:
        yield RawDevice(client, topics, device_id)
