"""The live feed's fan-out and the SSE streams the pages read (pure logic; the PostgreSQL side
is tests/integration/test_live_feed_postgres.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from api.routes import live as live_routes
from api.routes.live import event_stream
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.live.hub import (
    RESYNC,
    SUBSCRIBER_QUEUE,
    FeedClosed,
    LiveHub,
    LiveNotice,
    parse_notice,
)
from tests.support.api_app import api_app


def ticket(number: str = "A001", to: str = "called") -> LiveNotice:
    return LiveNotice("ticket", {"ticket_id": "t-" + number, "number": number, "to": to,
                                 "window_id": "w1", "recalls": 0, "person_id": "secret"})


async def test_subscribers_get_only_their_topics_and_every_resync() -> None:
    hub = LiveHub()
    tickets = hub.subscribe({"ticket"})
    devices = hub.subscribe({"device"})
    hub.publish(ticket())
    hub.publish(LiveNotice("device", {"device_id": "lock-1", "online": False}))
    hub.publish(LiveNotice(RESYNC, {}))
    assert [(await tickets.next(1)).topic for _ in range(2)] == ["ticket", RESYNC]  # type: ignore[union-attr]
    assert [(await devices.next(1)).topic for _ in range(2)] == ["device", RESYNC]  # type: ignore[union-attr]
    assert await tickets.next(0.01) is None   # silence, not an end


async def test_a_slow_subscriber_loses_old_notices_and_is_told_to_resync() -> None:
    hub = LiveHub()
    slow = hub.subscribe({"ticket"})
    for n in range(SUBSCRIBER_QUEUE + 10):
        hub.publish(ticket(f"A{n:03d}"))
    received = []
    while (notice := await slow.next(0.01)) is not None:
        received.append(notice)
    assert len(received) == SUBSCRIBER_QUEUE             # bounded: memory does not grow
    assert received[-1].topic == RESYNC                  # ... and the page re-reads
    assert slow.dropped == 10


async def test_closing_the_hub_ends_every_subscription() -> None:
    hub = LiveHub()
    sub = hub.subscribe({"ticket"})
    hub.close()
    with pytest.raises(FeedClosed):
        await sub.next(1)
    with pytest.raises(FeedClosed):
        await hub.subscribe({"ticket"}).next(1)          # subscribing after close ends at once
    assert hub.subscriber_count == 0


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", '{"no_topic": 1}', '{"topic": 5}'])
def test_foreign_notify_payloads_are_ignored(payload: str) -> None:
    assert parse_notice(payload) is None


def test_a_notify_payload_becomes_a_notice() -> None:
    notice = parse_notice(json.dumps({"topic": "alarm", "id": 3, "status": "active"}))
    assert notice == LiveNotice("alarm", {"id": 3, "status": "active"})


async def collect(stream: AsyncIterator[str], count: int) -> list[str]:
    return [await anext(stream) for _ in range(count)]


async def test_the_stream_sends_hello_events_pings_and_ends_with_the_feed() -> None:
    hub = LiveHub()
    stream = event_stream(hub, {"ticket"}, lambda n: {"number": n.data["number"]}, ping_s=0.05)
    hello = await anext(stream)
    assert hello.startswith("retry: 1000\nevent: hello\ndata: {")
    hub.publish(ticket("A007"))
    assert await anext(stream) == 'event: ticket\ndata: {"number":"A007"}\n\n'
    assert await anext(stream) == ": ping\n\n"     # silence keeps the connection checked
    assert hub.subscriber_count == 1
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert hub.subscriber_count == 0


async def test_a_client_that_leaves_unsubscribes() -> None:
    hub = LiveHub()
    stream = event_stream(hub, {"ticket"}, dict, ping_s=10)
    await anext(stream)
    await stream.aclose()                          # what the server does when the client goes
    assert hub.subscriber_count == 0


async def test_the_public_stream_carries_no_person_data_and_names_the_window() -> None:
    hub = LiveHub()
    router = live_routes.router
    display = next(r for r in router.routes if getattr(r, "path", "") == "/live/display")
    response = await display.endpoint(source=hub, clerk=None)  # type: ignore[attr-defined]
    body = response.body_iterator
    await anext(body)
    hub.publish(ticket("B002"))
    event = await anext(body)
    data = json.loads(event.split("data: ", 1)[1])
    assert data["number"] == "B002"
    assert "person_id" not in data
    assert data["window"] is None                  # no clerk service: no window numbers known
    hub.close()


async def test_the_facilities_stream_needs_a_facilities_login() -> None:
    hub = LiveHub()
    app = api_app(MemoryStore(), hub)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        assert (await client.get("/api/v1/live/facilities")).status_code == 401
        bad = await client.get("/api/v1/live/facilities",
                               headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401
        snapshot = await client.get("/api/v1/live/display/snapshot")
        assert snapshot.status_code == 200
        assert snapshot.json()["windows"] == []


def test_publishing_never_waits_for_subscribers() -> None:
    """Publishing is a plain call: with no event loop to wait on, 100 subscribers that read
    nothing can only make it drop what overflows their queues. (How fast: benchmarks/latency.py.)"""
    hub = LiveHub()
    subs = [hub.subscribe({"ticket"}) for _ in range(100)]
    for n in range(2 * SUBSCRIBER_QUEUE):
        hub.publish(ticket(f"C{n:03d}"))
    assert all(s.dropped == SUBSCRIBER_QUEUE for s in subs)
