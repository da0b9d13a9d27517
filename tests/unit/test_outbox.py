"""The outbox keeps order, sheds only telemetry when full, and (durable) survives reopening."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from devices.contract import Channel, parse_event, parse_telemetry
from edge.errors import OutboxError
from edge.outbox import MemoryOutbox, OutboundMessage, RecordKind, SqliteOutbox

OutboxFactory = Callable[[int], AbstractAsyncContextManager[Any]]


@pytest.fixture(params=["memory", "sqlite"])
def make_outbox(request: pytest.FixtureRequest, tmp_path: Path) -> OutboxFactory:
    """Both implementations, built with a given bound."""
    if request.param == "memory":
        return lambda max_rows: MemoryOutbox(max_rows=max_rows)
    return lambda max_rows: SqliteOutbox(tmp_path / "outbox.sqlite3", max_rows=max_rows)


def sample(n: int) -> str:
    return json.dumps({"ts": 1_700_000_000_000 + n, "values": {"n": n}})


def event(n: int) -> str:
    return json.dumps({"id": f"00000000-0000-4000-8000-{n:012d}", "ts": 1_700_000_000_000 + n,
                       "type": "test.seq", "data": {"n": n}})


def numbers(messages: list[OutboundMessage]) -> list[tuple[str, int]]:
    """(channel, n) of every record carried, in order, checked against the wire contract."""
    out: list[tuple[str, int]] = []
    for message in messages:
        body = json.loads(message.payload)
        if message.channel is Channel.EVENT:
            out.append(("event", int(parse_event(body, "dev-1").data["n"])))
        else:
            for s in parse_telemetry(body, "dev-1"):
                out.append(("telemetry", int(s.values["n"])))
    return out


async def drain(outbox: Any, max_samples: int = 100) -> list[OutboundMessage]:
    """Everything in the outbox, as the agent would publish it."""
    sent: list[OutboundMessage] = []
    while outbox.size:
        batch = await outbox.next_messages(10, max_samples)
        sent.extend(batch)
        await outbox.remove([seq for m in batch for seq in m.seqs])
    return sent


async def test_records_come_out_in_order_with_telemetry_runs_as_lists(
    make_outbox: OutboxFactory,
) -> None:
    async with make_outbox(1000) as outbox:
        await outbox.put(RecordKind.TELEMETRY, sample(1))
        await outbox.put(RecordKind.TELEMETRY, sample(2))
        await outbox.put(RecordKind.EVENT, event(3))
        await outbox.put(RecordKind.TELEMETRY, sample(4))
        await outbox.put(RecordKind.EVENT, event(5))
        await outbox.put(RecordKind.EVENT, event(6))

        messages = await drain(outbox)

        assert [m.channel.value for m in messages] == ["telemetry", "event", "telemetry",
                                                       "event", "event"]
        assert isinstance(json.loads(messages[0].payload), list)  # a backlog flush
        assert isinstance(json.loads(messages[2].payload), dict)  # a lone sample stays an object
        assert numbers(messages) == [("telemetry", 1), ("telemetry", 2), ("event", 3),
                                     ("telemetry", 4), ("event", 5), ("event", 6)]
        assert outbox.size == 0


async def test_a_long_telemetry_backlog_is_split_into_lists_of_bounded_size(
    make_outbox: OutboxFactory,
) -> None:
    async with make_outbox(1000) as outbox:
        for n in range(250):
            await outbox.put(RecordKind.TELEMETRY, sample(n))

        messages = await drain(outbox, max_samples=100)

        assert [len(json.loads(m.payload)) for m in messages] == [100, 100, 50]
        assert [n for _, n in numbers(messages)] == list(range(250))


async def test_records_stay_until_removed(make_outbox: OutboxFactory) -> None:
    async with make_outbox(1000) as outbox:
        await outbox.put(RecordKind.EVENT, event(1))
        first = await outbox.next_messages(10, 100)
        again = await outbox.next_messages(10, 100)  # e.g. the publish failed: nothing removed

        assert first == again
        await outbox.remove(first[0].seqs)
        assert await outbox.next_messages(10, 100) == []
        await outbox.remove(first[0].seqs)  # removing twice is harmless
        assert outbox.size == 0


async def test_when_full_the_oldest_telemetry_is_shed_and_events_are_kept(
    make_outbox: OutboxFactory,
) -> None:
    async with make_outbox(5) as outbox:
        await outbox.put(RecordKind.EVENT, event(0))
        for n in range(1, 4):
            await outbox.put(RecordKind.TELEMETRY, sample(n))
        await outbox.put(RecordKind.EVENT, event(4))  # now full
        await outbox.put(RecordKind.TELEMETRY, sample(5))  # sheds sample 1
        await outbox.put(RecordKind.TELEMETRY, sample(6))  # sheds sample 2
        await outbox.put(RecordKind.EVENT, event(7))  # events are never refused

        assert outbox.telemetry_shed == 2
        assert numbers(await drain(outbox)) == [("event", 0), ("telemetry", 3), ("event", 4),
                                                ("telemetry", 5), ("telemetry", 6), ("event", 7)]


async def test_an_outbox_full_of_events_sheds_new_telemetry_but_takes_every_event(
    make_outbox: OutboxFactory,
) -> None:
    async with make_outbox(3) as outbox:
        for n in range(10):
            await outbox.put(RecordKind.EVENT, event(n))
        await outbox.put(RecordKind.TELEMETRY, sample(10))

        assert outbox.size == 10
        assert outbox.telemetry_shed == 1
        assert numbers(await drain(outbox)) == [("event", n) for n in range(10)]


async def test_wait_not_empty_wakes_up_on_put(make_outbox: OutboxFactory) -> None:
    async with make_outbox(10) as outbox:
        waiter = asyncio.create_task(outbox.wait_not_empty())
        await asyncio.sleep(0)  # one turn of the loop: the waiter runs up to its wait (no I/O)
        assert not waiter.done()

        await outbox.put(RecordKind.EVENT, event(1))

        await asyncio.wait_for(waiter, timeout=2)


@pytest.fixture
def durable_path(tmp_path: Path) -> Path:
    return tmp_path / "agent" / "outbox.sqlite3"


async def test_durable_outbox_survives_reopening(durable_path: Path) -> None:
    async with SqliteOutbox(durable_path) as outbox:
        for n in range(5):
            await outbox.put(RecordKind.TELEMETRY if n % 2 else RecordKind.EVENT,
                             sample(n) if n % 2 else event(n))
        delivered = await outbox.next_messages(1, 100)
        await outbox.remove(delivered[0].seqs)  # event 0 was acknowledged before the "crash"

    async with SqliteOutbox(durable_path) as reopened:
        assert reopened.size == 4
        await reopened.wait_not_empty()  # a backlog from before wakes the drain at once
        await reopened.put(RecordKind.EVENT, event(5))
        assert numbers(await drain(reopened)) == [("telemetry", 1), ("event", 2), ("telemetry", 3),
                                                  ("event", 4), ("event", 5)]

    async with SqliteOutbox(durable_path) as empty:
        assert empty.size == 0


async def test_durable_outbox_keeps_its_bound_after_reopening(durable_path: Path) -> None:
    async with SqliteOutbox(durable_path, max_rows=3) as outbox:
        for n in range(3):
            await outbox.put(RecordKind.TELEMETRY, sample(n))

    async with SqliteOutbox(durable_path, max_rows=3) as reopened:
        await reopened.put(RecordKind.TELEMETRY, sample(3))
        assert reopened.telemetry_shed == 1
        assert [n for _, n in numbers(await drain(reopened))] == [1, 2, 3]


async def test_a_second_agent_cannot_open_the_same_outbox(durable_path: Path) -> None:
    async with SqliteOutbox(durable_path) as outbox:
        await outbox.put(RecordKind.EVENT, event(1))
        with pytest.raises(OutboxError, match="in use"):
            async with SqliteOutbox(durable_path):
                pass
