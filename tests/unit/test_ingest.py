"""The ingest pipeline over the in-memory store: what gets committed, when messages are acked."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from devices.contract import Command, Topics, now_ms
from devices.kinds import DeviceKind
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.commands import CommandService
from hall_controller.fleet.ingest import IngestPipeline
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import DeviceRecord, IngestBatch
from hall_controller.fleet.registry import DeviceRegistry
from hall_controller.fleet.requests import RequestRouter
from hall_controller.kernel.bus import BrokerUnavailable, InboundMessage
from hall_controller.kernel.errors import Conflict
from tests.support.waiting import eventually

TOPICS = Topics()
TIMEOUTS = dict.fromkeys(DeviceKind, 60.0)


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.sent.append((topic, payload))


class Acks:
    """Records which messages were acknowledged, and what the store held at that moment."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.acked: list[str] = []
        self.batches_at_ack: list[int] = []

    def message(self, topic: str, body: object) -> InboundMessage:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        tag = f"{topic}#{len(self.acked)}-{uuid.uuid4().hex[:4]}"

        def ack() -> None:
            self.acked.append(tag)
            self.batches_at_ack.append(self.store.committed_batches)

        return InboundMessage(topic, payload, now_ms(), ack)


def build(store: MemoryStore, publisher: FakePublisher | None = None, *, shared: bool = False,
          ) -> tuple[IngestPipeline, DeviceRegistry, FakePublisher]:
    alarms = AlarmService(store)
    registry = DeviceRegistry(store, alarms, TIMEOUTS, shared=shared)
    publisher = publisher or FakePublisher()
    commands = CommandService(store, publisher, registry, TOPICS, default_timeout_s=1, ttl_s=5)
    pipeline = IngestPipeline(store, registry, commands=commands, requests=RequestRouter(),
                              publisher=publisher, topics=TOPICS)
    return pipeline, registry, publisher


def telemetry(value: object) -> dict[str, object]:
    return {"ts": now_ms(), "values": {"temp_c": value}}


async def test_messages_are_acked_only_after_their_batch_is_committed() -> None:
    store = MemoryStore()
    pipeline, _, _ = build(store)
    acks = Acks(store)
    batch = [acks.message(TOPICS.device("kiosk-1", ch), body) for ch, body in [
        ("state", {"online": True, "session": 1, "kind": "kiosk", "ts": now_ms()}),
        ("telemetry", telemetry(40.5)),
        ("event", {"id": str(uuid.uuid4()), "ts": now_ms(), "type": "printer.paper_low"}),
    ]]
    await pipeline.process(batch)
    assert len(acks.acked) == 3
    assert all(n == 1 for n in acks.batches_at_ack)  # every ack came after the one commit
    assert len(store.telemetry) == 1 and len(store.events) == 1 and "kiosk-1" in store.devices


async def test_nothing_is_acked_while_the_database_is_down() -> None:
    store = MemoryStore()
    pipeline, _, _ = build(store)
    acks = Acks(store)
    store.available = False
    work = asyncio.create_task(pipeline.process([acks.message(
        TOPICS.device("kiosk-1", "telemetry"), telemetry(1))]))
    # Two refused commits: the pipeline tried, waited, tried again, and acknowledged nothing.
    await eventually(lambda: pipeline.counters.commit_failures >= 2, what="a second attempt")
    assert acks.acked == [] and not work.done()
    store.available = True
    await asyncio.wait_for(work, 15)
    assert len(acks.acked) == 1 and len(store.telemetry) == 1


class PickyStore(MemoryStore):
    """A store that refuses one particular value, the way PostgreSQL refuses odd data."""

    async def commit_batch(self, batch: IngestBatch) -> set[str]:
        if any(p.value == "poison" for p in batch.telemetry):
            raise ValueError("invalid byte sequence")
        return await super().commit_batch(batch)


async def test_a_message_the_database_refuses_is_dead_lettered_and_the_rest_kept() -> None:
    store = PickyStore()
    pipeline, _, _ = build(store)
    acks = Acks(store)
    messages = [acks.message(TOPICS.device(f"kiosk-{i}", "telemetry"), telemetry(v))
                for i, v in enumerate([1, "poison", 3])]
    await pipeline.process(messages)
    assert len(acks.acked) == 3
    assert sorted(r.device_id for r in store.telemetry) == ["kiosk-0", "kiosk-2"]
    [letter] = store.dead_letters.values()
    assert letter.device_id == "kiosk-1" and letter.reason.startswith("rejected by the database")


async def test_a_cleared_retained_state_is_not_a_dead_letter() -> None:
    store = MemoryStore()
    pipeline, _, _ = build(store)
    acks = Acks(store)
    await pipeline.process([acks.message(TOPICS.device("kiosk-1", "state"), b"")])
    assert acks.acked and not store.dead_letters


async def test_our_own_commands_heard_back_are_ignored() -> None:
    store = MemoryStore()
    pipeline, _, _ = build(store)
    acks = Acks(store)
    await pipeline.process([acks.message(TOPICS.device("kiosk-1", "cmd"), {"id": "x"}),
                            acks.message(TOPICS.controller_state, {"online": True})])
    assert len(acks.acked) == 2 and not store.dead_letters


async def test_devices_get_a_full_timeout_after_a_controller_restart() -> None:
    store = MemoryStore()
    long_ago = now_ms() - 3_600_000  # the controller was down for an hour
    await store.upsert_devices([DeviceRecord("lock-1", DeviceKind.DOOR_LOCK, online=True,
                                             session=1, first_seen_ms=long_ago,
                                             last_seen_ms=long_ago)])
    _, registry, _ = build(store)
    await registry.load()
    assert await registry.check_timeouts() == []  # not flapped offline on start
    went = await registry.check_timeouts(now_ms() + 61_000)
    assert [d.device_id for d in went] == ["lock-1"]
    # The record keeps the real last time we heard from it.
    assert went[0].last_seen_ms == long_ago


async def test_a_device_heard_by_another_controller_is_not_timed_out_here() -> None:
    # Two controllers on one database with shared subscriptions: each hears part of the traffic.
    store = MemoryStore()
    _, here, _ = build(store, shared=True)
    pipeline_there, _, _ = build(store, shared=True)
    acks = Acks(store)
    birth = {"online": True, "session": 1, "kind": "door_lock", "ts": now_ms()}
    await pipeline_there.process([acks.message(TOPICS.device("lock-7", "state"), birth)])
    await here.refresh()
    assert here.get("lock-7") is not None  # known here too, so it can be commanded from here

    later = now_ms() + 50_000
    # Only the other controller hears the lock's telemetry from now on.
    message = acks.message(TOPICS.device("lock-7", "telemetry"), telemetry(1))
    message.received_ms = later
    await pipeline_there.process([message])
    assert await here.check_timeouts(later + 30_000) == []  # 30 s after its last message
    went = await here.check_timeouts(later + 61_000)
    assert [d.device_id for d in went] == ["lock-7"]


class FailingPublisher(FakePublisher):
    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        raise BrokerUnavailable("broker gone")


async def test_a_request_is_acknowledged_only_once_it_is_answered() -> None:
    store = MemoryStore()
    pipeline, _, publisher = build(store)
    acks = Acks(store)
    request = acks.message(TOPICS.device("kiosk-1", "req"),
                           {"id": "r1", "method": "device.time", "params": {}})
    await pipeline.process([request])
    await pipeline.requests_answered()
    assert [t for t, _ in publisher.sent] == [TOPICS.device("kiosk-1", "res")]
    assert len(acks.acked) == 1

    # When the reply cannot be sent, the request stays unacknowledged: the broker redelivers it.
    store2 = MemoryStore()
    failing, _, _ = build(store2, FailingPublisher())
    acks2 = Acks(store2)
    await failing.process([acks2.message(TOPICS.device("kiosk-1", "req"),
                                         {"id": "r2", "method": "device.time", "params": {}})])
    await failing.requests_answered()
    assert acks2.acked == []


async def test_a_rebirth_as_another_kind_is_dead_lettered_and_raises_an_alarm() -> None:
    store = MemoryStore()
    pipeline, registry, _ = build(store)
    acks = Acks(store)

    def birth(kind: str, session: int) -> InboundMessage:
        return acks.message(TOPICS.device("lock-9", "state"), {
            "online": True, "session": session, "kind": kind, "model": "X", "ts": now_ms()})

    await pipeline.process([birth("door_lock", 1)])
    await pipeline.process([birth("face_gate", 2)])
    await pipeline.process([birth("face_gate", 3)])
    assert len(acks.acked) == 3  # refused, not redelivered forever
    record = registry.get("lock-9")
    assert record is not None and record.kind is DeviceKind.DOOR_LOCK and record.session == 1
    assert store.devices["lock-9"].kind is DeviceKind.DOOR_LOCK
    reasons = [d.reason for d in store.dead_letters.values()]
    assert reasons == ["kind_mismatch: lock-9 is recorded as door_lock, the birth says face_gate"] * 2
    [alarm] = [a for a in store.alarms.values() if a.type == "device.kind_mismatch"]
    assert alarm.device_id == "lock-9" and alarm.count == 2
    assert alarm.details == {"recorded_kind": "door_lock", "claimed_kind": "face_gate"}
    assert pipeline.counters.dead_letters["kind_mismatch"] == 2


async def test_a_command_its_signer_refuses_is_neither_stored_nor_sent() -> None:
    store = MemoryStore()
    pipeline, registry, publisher = build(store)
    acks = Acks(store)
    birth = {"online": True, "session": 1, "kind": "door_lock", "ts": now_ms()}
    await pipeline.process([acks.message(TOPICS.device("lock-8", "state"), birth)])
    commands = CommandService(store, publisher, registry, TOPICS, default_timeout_s=1, ttl_s=5)

    def no_key(command: Command, device_id: str) -> Command:
        raise Conflict(f"{device_id} has no command key: provision it first")

    sent_before = len(publisher.sent)
    with pytest.raises(Conflict, match="no command key"):
        await commands.send("lock-8", "door.unlock", {}, "admin", signer=no_key)
    # No command left pending forever in the device's history, and nothing published.
    assert await store.list_commands("lock-8") == []
    assert len(publisher.sent) == sent_before
