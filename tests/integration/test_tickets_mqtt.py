"""ticket.take end to end: raw MQTT kiosks, a real broker, a real PostgreSQL, and two
controllers sharing the work through MQTT shared subscriptions."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from hall_controller.queue.model import ServiceDef
from hall_controller.queue.tickets import QueueSettings
from tests.support.controller import running_controller
from tests.support.hall_store import PostgresHallStore
from tests.support.kiosks import after_markers, latency_summary, mosquitto_url, raw_kiosks

__all__ = ["mosquitto_url"]  # a fixture, imported to be found

QUEUE = QueueSettings(services=(ServiceDef("student-id", "学生证办理", "A"),
                                ServiceDef("finance", "财务缴费", "D", daily_cap=1)))
CONCURRENT_KIOSKS = 200


async def test_a_raw_mqtt_kiosk_takes_a_ticket(broker_url: str, topic_prefix: str,
                                               hall_store: PostgresHallStore) -> None:
    async with (running_controller(broker_url, topic_prefix, hall_store, queue=QUEUE),
                raw_kiosks(broker_url, topic_prefix, 1) as [kiosk]):
        first = await kiosk.take("student-id", identity={"type": "campus_card", "value": "2023001"})
        assert first.body["ok"], first.body
        result = first.body["result"]
        assert result["ticket"] == "A001" and result["service"] == "student-id"
        assert result["waiting_ahead"] == 0 and result["estimated_wait_s"] == 0
        assert result["cases"] == []
        stored = await hall_store.get_ticket(result["ticket_id"])
        assert stored is not None and stored.origin_device == kiosk.device_id
        assert stored.request_id == first.request_id

        second = await kiosk.take("student-id")
        assert second.body["result"]["ticket"] == "A002"
        assert second.body["result"]["waiting_ahead"] == 1

        # The kiosk resends a request it got no answer to (same id): same ticket, no new number.
        again = await kiosk.request("ticket.take", {"service": "student-id"},
                                    request_id=first.request_id)
        assert again.body["result"]["ticket_id"] == result["ticket_id"]
        assert len(await hall_store.list_tickets("student-id", stored.service_day)) == 2

        errors = {
            "unknown_service": await kiosk.take("parking"),
            "invalid_params": await kiosk.request("ticket.take", {"identity": {"type": "x"}}),
        }
        assert (await kiosk.take("finance")).body["ok"]
        errors["daily_cap_reached"] = await kiosk.take("finance")
        for code, reply in errors.items():
            assert reply.body["ok"] is False and reply.body["error"]["code"] == code, reply.body


async def test_two_controllers_share_200_concurrent_kiosks(
        mosquitto_url: str, topic_prefix: str, database_url: str) -> None:
    """The issue's scale-out check: two controllers (own client ids, own pools) on one
    Mosquitto and one database, $share subscriptions, 200 kiosks at once."""
    group = f"hall-{uuid.uuid4().hex[:6]}"
    async with (PostgresHallStore.connect(database_url, max_size=8) as store_one,
                PostgresHallStore.connect(database_url, max_size=8) as store_two):
        assert isinstance(store_one, PostgresHallStore)
        assert isinstance(store_two, PostgresHallStore)
        async with (running_controller(mosquitto_url, topic_prefix, store_one, queue=QUEUE,
                                       shared_group=group) as one,
                    running_controller(mosquitto_url, topic_prefix, store_two, queue=QUEUE,
                                       shared_group=group) as two,
                    raw_kiosks(mosquitto_url, topic_prefix, CONCURRENT_KIOSKS) as kiosks):
            replies = await asyncio.gather(*(k.take("student-id") for k in kiosks))
            markers = await after_markers(kiosks)  # any duplicate reply would be in by now

            assert all(r.body["ok"] for r in replies), [r.body for r in replies if not r.body["ok"]][:3]
            numbers = [r.body["result"]["ticket"] for r in replies]
            assert len(set(numbers)) == CONCURRENT_KIOSKS, Counter(numbers).most_common(3)
            assert sorted(numbers) == [f"A{n:03d}" for n in range(1, CONCURRENT_KIOSKS + 1)]
            # Exactly once: no kiosk heard a second reply to its request.
            assert all(len(k.replies[r.request_id]) == 1 for k, r in zip(kiosks, replies, strict=True))
            handled = (one.counters.requests, two.counters.requests)
            assert sum(handled) == CONCURRENT_KIOSKS + markers, handled
            assert min(handled) > 0, f"shared subscription did not split the work: {handled}"
            ticket = await store_one.get_ticket(replies[0].body["result"]["ticket_id"])
            assert ticket is not None
            stored = await store_one.list_tickets("student-id", ticket.service_day)
            assert [t.seq for t in stored] == list(range(1, CONCURRENT_KIOSKS + 1))
            print(f"\nticket.take, {CONCURRENT_KIOSKS} concurrent kiosks, 2 controllers "
                  f"(handled {handled[0]}/{handled[1]}): "
                  f"{latency_summary([r.latency_s for r in replies])}")
