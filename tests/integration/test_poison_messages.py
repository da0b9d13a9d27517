"""One hostile message must not take down the controller or an agent: over the real broker.

The payload is the one that used to: 3,000 nested arrays (about 6 KB), which made json raise
RecursionError, ended the controller's ingest task and so the process; unacknowledged, the
broker redelivered it to the persistent session on every restart, and a retained one on
``state`` did the same to every start.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import aiomqtt
import pytest

from devices.contract import Channel, Topics, now_ms
from devices.kinds import DeviceKind
from edge import AgentSettings, EdgeAgent
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.runtime import HallController
from simulators import SimulatedQueueDisplay
from tests.support.controller import eventually, mqtt_client, raw_device, running_controller

pytestmark = pytest.mark.integration

NESTED = b"[" * 3000 + b"]" * 3000


def pipeline_alive(controller: HallController) -> bool:
    tasks = {t.get_name(): t for t in asyncio.all_tasks()}
    return "ingest-pipeline" in tasks and not tasks["ingest-pipeline"].done()


async def test_nested_json_retained_or_not_is_dead_lettered_and_the_controller_stays_up(
        broker_url: str, topic_prefix: str, store: PostgresStore) -> None:
    client_id = f"ctl-{uuid.uuid4().hex[:8]}"
    topics = Topics(topic_prefix)
    async with mqtt_client(broker_url) as attacker:
        async with running_controller(broker_url, topic_prefix, store, client_id=client_id,
                                      keep_session=True) as controller, \
                raw_device(broker_url, topic_prefix, "kiosk-01") as honest:
            await honest.birth("kiosk")
            await attacker.publish(topics.device("x", Channel.TELEMETRY), NESTED, qos=1)
            await attacker.publish(topics.device("x", Channel.STATE), NESTED, qos=1, retain=True)
            await honest.telemetry({"paper_level_pct": 40})

            async def two_letters_and_the_next_sample() -> bool:
                letters = await store.list_dead_letters(limit=10)
                latest = (await store.latest_values(["kiosk-01"])).get("kiosk-01", [])
                return len(letters) == 2 and any(v.metric == "paper_level_pct" for v in latest)

            await eventually(two_letters_and_the_next_sample, what="2 dead letters, then the sample")
            letters = await store.list_dead_letters(limit=10)
            assert sorted(d.topic.rsplit("/", 1)[1] for d in letters) == ["state", "telemetry"]
            assert {d.reason.split(":")[0] for d in letters} == {"too_deep"}
            assert {d.device_id for d in letters} == {"x"} and {d.size for d in letters} == {6000}
            assert pipeline_alive(controller)
            assert controller.counters.dead_letters["too_deep"] == 2

        # Down, with its persistent session kept: the broker queues a poisoned message for it,
        # and holds the retained one for its next subscribe — what used to kill every restart.
        await attacker.publish(topics.device("y", Channel.EVENT), NESTED, qos=1)
        async with running_controller(broker_url, topic_prefix, store, client_id=client_id) \
                as controller, raw_device(broker_url, topic_prefix, "kiosk-01") as honest:
            await honest.telemetry({"paper_level_pct": 39})

            async def redelivered_and_going_on() -> bool:
                letters = await store.list_dead_letters(limit=10)
                series = await store.telemetry_series("kiosk-01", "paper_level_pct", 0,
                                                      now_ms() + 1000, 3600)
                # amqtt hands the retained state over twice (retained, and from the session).
                leaves = [d.topic.rsplit("/", 1)[1] for d in letters]
                return ("event" in leaves and leaves.count("state") >= 2
                        and sum(b.count for b in series) == 2)

            await eventually(redelivered_and_going_on, what="the queued and retained ones, then data")
            letters = await store.list_dead_letters(limit=10)
            leaves = sorted(d.topic.rsplit("/", 1)[1] for d in letters)
            assert set(leaves) == {"event", "state", "telemetry"} and leaves.count("state") >= 2
            assert pipeline_alive(controller)
            assert controller.counters.internal_errors == 0
        await attacker.publish(topics.device("x", Channel.STATE), b"", qos=1, retain=True)


async def test_nested_json_on_every_topic_an_agent_reads_is_refused_and_it_goes_on(
        broker_url: str, topic_prefix: str, tmp_path: Path) -> None:
    device_id = f"t-{uuid.uuid4().hex[:10]}"
    topics = Topics(topic_prefix)
    settings = AgentSettings(device_id=device_id, kind=DeviceKind.QUEUE_DISPLAY,
                             broker_url=broker_url, topic_prefix=topic_prefix,
                             data_dir=tmp_path / device_id, reconnect_min_s=0.2,
                             reconnect_max_s=1.0)
    acks: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def read_acks(client: aiomqtt.Client) -> None:
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            await acks.put(json.loads(message.payload))

    async def ping(client: aiomqtt.Client, cid: str) -> dict[str, object]:
        await client.publish(topics.device(device_id, Channel.CMD), json.dumps({
            "id": cid, "method": "device.ping", "params": {},
            "expires_at": now_ms() + 30_000}), qos=1)
        async with asyncio.timeout(15):
            while True:
                ack = await acks.get()
                if ack["id"] == cid:
                    return ack

    # The controller's retained state is poisoned before the agent ever starts: every start
    # of every agent reads it.
    async with mqtt_client(broker_url) as attacker:
        await attacker.subscribe(topics.device(device_id, Channel.CMD_ACK), qos=1)
        reader = asyncio.create_task(read_acks(attacker))
        try:
            await attacker.publish(topics.controller_state, NESTED, qos=1, retain=True)
            for restart in range(2):
                async with EdgeAgent(settings, SimulatedQueueDisplay(device_id)) as agent:
                    await agent.wait_connected(15)
                    for channel, retain in ((Channel.CMD, False), (Channel.RES, False),
                                            (Channel.CMD, True)):
                        await attacker.publish(topics.device(device_id, channel), NESTED,
                                               qos=1, retain=retain)
                    ack = await ping(attacker, f"ping-{restart}")
                    assert ack["ok"] is True
                    # cmd (plain and retained) and res; the retained state is also refused.
                    await eventually(lambda a=agent: a.stats.commands.malformed >= 2
                                     and a.stats.malformed_messages >= 2,
                                     what="every poisoned message refused")
                    assert agent.stats.connection_losses == 0
                    assert agent.stats.internal_errors == 0
                    assert agent.is_connected
                await attacker.publish(topics.device(device_id, Channel.CMD), b"", qos=1,
                                       retain=True)
        finally:
            await attacker.publish(topics.controller_state, b"", qos=1, retain=True)
            reader.cancel()
    async with mqtt_client(broker_url, device_id, clean_session=True):
        pass  # forget the agent's persistent session on the shared broker
