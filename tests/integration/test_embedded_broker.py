"""The embedded amqtt broker behaves as the demo needs (fixes over amqtt 0.12.1)."""

from __future__ import annotations

import asyncio

import aiomqtt

from hall.embedded_broker import embedded_broker
from tests.support.controller import mqtt_client


async def _drain(client: aiomqtt.Client, seconds: float) -> list[str]:
    topics: list[str] = []
    try:
        async with asyncio.timeout(seconds):
            async for message in client.messages:
                topics.append(message.topic.value)
    except TimeoutError:
        pass
    return topics


async def test_a_subscriber_gets_only_retained_messages_of_its_own_subscriptions() -> None:
    async with embedded_broker() as url, mqtt_client(url) as other:
        await other.subscribe("elsewhere/#", qos=1)
        await other.publish("elsewhere/state", b"{}", qos=1, retain=True)
        async with mqtt_client(url) as mine:
            await mine.subscribe("mine/#", qos=1)
            await mine.publish("mine/state", b"{}", qos=1, retain=True)
            assert await _drain(mine, 0.5) == ["mine/state"]


async def test_a_named_persistent_client_gets_what_was_sent_while_it_was_away() -> None:
    async with embedded_broker() as url:
        async with mqtt_client(url, "controller-x", clean_session=False, username="controller-x") as c:
            await c.subscribe("hall/#", qos=1)
        async with mqtt_client(url) as device:
            for i in range(20):
                await device.publish(f"hall/dev/{i}", b"{}", qos=1)
        async with mqtt_client(url, "controller-x", clean_session=False, username="controller-x") as c:
            assert len(await _drain(c, 1.0)) == 20


async def test_many_devices_connecting_at_once_all_get_in() -> None:
    async with embedded_broker() as url:
        async def connect(i: int) -> None:
            async with mqtt_client(url, f"dev-{i}") as client:
                await client.subscribe(f"hall/dev/dev-{i}/cmd", qos=1)
                await client.publish(f"hall/dev/dev-{i}/state", b"{}", qos=1, retain=True)

        async with asyncio.timeout(20):
            await asyncio.gather(*(connect(i) for i in range(40)))
