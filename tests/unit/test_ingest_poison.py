"""Poison-message isolation: nothing one message does stops the pipeline for the others.

Each test plants the failure a hostile device or a controller bug would cause, and checks what
facilities staff would see: the culprit in the dead letters with its reason, the
``controller.internal_error`` alarm, and every other message committed and acknowledged.
"""

from __future__ import annotations

import asyncio
import uuid

from devices.contract import now_ms
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.commands import CommandService
from hall_controller.fleet.ingest import IngestPipeline
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import IngestBatch
from hall_controller.fleet.registry import DeviceRegistry
from hall_controller.fleet.requests import RequestRouter
from tests.support.waiting import eventually
from tests.unit.test_ingest import TIMEOUTS, TOPICS, Acks, FakePublisher, telemetry

NESTED = b"[" * 3000 + b"]" * 3000


def with_alarms(store: MemoryStore, pipeline_class: type[IngestPipeline] = IngestPipeline,
                ) -> tuple[IngestPipeline, DeviceRegistry]:
    """The pipeline as the controller builds it: with the alarm service."""
    alarms = AlarmService(store)
    registry = DeviceRegistry(store, alarms, TIMEOUTS)
    publisher = FakePublisher()
    pipeline = pipeline_class(
        store, registry, publisher=publisher, topics=TOPICS, alarms=alarms,
        commands=CommandService(store, publisher, registry, TOPICS, default_timeout_s=1, ttl_s=5),
        requests=RequestRouter())
    return pipeline, registry


def active_alarms(store: MemoryStore) -> list[tuple[str, str, int]]:
    return [(a.device_id, a.type, a.count) for a in store.alarms.values()
            if a.status == "active"]


async def test_deeply_nested_json_is_a_dead_letter_and_the_next_message_is_committed() -> None:
    store = MemoryStore()
    pipeline, _ = with_alarms(store)
    acks = Acks(store)
    start = now_ms()
    for i, channel in enumerate(("telemetry", "state", "event", "req", "cmd/ack")):
        await pipeline.process([
            acks.message(TOPICS.device("x", channel), NESTED),
            acks.message(TOPICS.device("kiosk-1", "telemetry"), {"ts": start + i, "values": {"n": i}}),
        ])
    letters = list(store.dead_letters.values())
    assert [d.reason.split(":")[0] for d in letters] == ["too_deep"] * 5
    assert {d.device_id for d in letters} == {"x"}
    assert len(store.telemetry) == 5 and len(acks.acked) == 10
    assert active_alarms(store) == []  # hostile input is not a controller bug


async def test_a_bug_while_parsing_one_message_dead_letters_it_and_raises_one_alarm() -> None:
    store = MemoryStore()
    pipeline, registry = with_alarms(store)
    acks = Acks(store)
    real_on_activity = registry.on_activity

    def buggy_on_activity(device_id: str, at: int):  # type: ignore[no-untyped-def]
        if device_id == "gate-7":
            raise KeyError("sessions")
        return real_on_activity(device_id, at)

    registry.on_activity = buggy_on_activity  # type: ignore[method-assign]
    for _ in range(2):  # the same bug twice: one alarm, counted twice
        await pipeline.process([
            acks.message(TOPICS.device("kiosk-1", "telemetry"), telemetry(1)),
            acks.message(TOPICS.device("gate-7", "telemetry"), telemetry(2)),
            acks.message(TOPICS.device("kiosk-2", "event"),
                         {"id": str(uuid.uuid4()), "ts": now_ms(), "type": "printer.paper_low"}),
        ])
    assert sorted({p.device_id for p in store.telemetry}) == ["kiosk-1"]
    assert len(store.events) == 2 and len(acks.acked) == 6
    letters = list(store.dead_letters.values())
    assert [(d.device_id, d.reason) for d in letters] == [
        ("gate-7", "internal_error: KeyError: 'sessions'")] * 2
    assert letters[0].payload.startswith(b'{"ts"')  # the culprit is kept for the bug report
    assert active_alarms(store) == [("controller", "controller.internal_error", 2)]
    assert pipeline.counters.internal_errors == 2
    assert pipeline.counters.as_dict()["internal_errors"] == 2


class BrokenAfterCommit(IngestPipeline):
    """A bug in the batch machinery itself, after the commit, for one device's messages."""

    async def _after_commit(self, parsed, new_event_ids):  # type: ignore[no-untyped-def]
        if any("gate-9" in p.message.topic for p in parsed):
            raise RuntimeError("listener list changed size during iteration")
        await super()._after_commit(parsed, new_event_ids)


async def test_the_loop_survives_a_bug_in_the_batch_machinery_and_quarantines_the_culprit() -> None:
    store = MemoryStore()
    pipeline, _ = with_alarms(store, BrokenAfterCommit)
    acks = Acks(store)
    runner = asyncio.create_task(pipeline.run())
    try:
        poison = acks.message(TOPICS.device("gate-9", "telemetry"), telemetry(9))
        for message in [acks.message(TOPICS.device("kiosk-1", "telemetry"), telemetry(1)), poison,
                        acks.message(TOPICS.device("kiosk-2", "telemetry"), telemetry(2))]:
            await pipeline.submit(message)
        await eventually(lambda: len(acks.acked) == 3)
        # And the loop is still there for the next message.
        await pipeline.submit(acks.message(TOPICS.device("kiosk-3", "telemetry"), telemetry(3)))
        await eventually(lambda: len(acks.acked) == 4)
        assert not runner.done()
    finally:
        runner.cancel()
    assert {"kiosk-1", "kiosk-2", "kiosk-3"} <= {p.device_id for p in store.telemetry}
    assert [d.reason for d in store.dead_letters.values()] == [
        "internal_error: RuntimeError: listener list changed size during iteration"]
    assert active_alarms(store) == [("controller", "controller.internal_error", 1)]


class RefusesEverythingFrom(MemoryStore):
    """A store that refuses, with an unexpected error, anything about one device, even its
    dead letter: the worst case, where only the reason can be kept."""

    def __init__(self, device_id: str) -> None:
        super().__init__()
        self.device_id = device_id

    async def commit_batch(self, batch: IngestBatch) -> set[str]:
        if any(p.device_id == self.device_id for p in batch.telemetry) or any(
                self.device_id.encode() in d.payload for d in batch.dead_letters):
            raise TypeError("can't adapt type 'Oddity'")
        return await super().commit_batch(batch)


async def test_a_message_whose_dead_letter_is_refused_too_keeps_its_reason() -> None:
    store = RefusesEverythingFrom("gate-3")
    pipeline, _ = with_alarms(store)
    acks = Acks(store)
    await pipeline.process([
        acks.message(TOPICS.device("kiosk-1", "telemetry"), telemetry(1)),
        acks.message(TOPICS.device("gate-3", "telemetry"), telemetry("gate-3")),
    ])
    assert len(acks.acked) == 2
    assert [p.device_id for p in store.telemetry] == ["kiosk-1"]
    [letter] = store.dead_letters.values()
    assert letter.reason == "internal_error: TypeError: can't adapt type 'Oddity'"
    assert letter.payload == b""
    assert active_alarms(store) == [("controller", "controller.internal_error", 1)]
