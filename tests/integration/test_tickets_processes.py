"""The issue's scale-out check with real processes: two ``hall controller`` OS processes on one
Mosquitto (with the shipped config's delivery options) and one PostgreSQL, splitting the work
through a shared subscription, and 200 raw MQTT kiosks taking tickets at the same moment."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.controller_process import ControllerProcess
from tests.support.kiosks import (
    RawKiosk,
    Reply,
    after_markers,
    burst_summary,
    latency_summary,
    raw_kiosks,
    shipped_mosquitto_url,
)
from tests.support.shell_mqtt import ShellSubscriber, mosquitto_pub

__all__ = ["shipped_mosquitto_url"]  # a fixture, imported to be found

KIOSKS = 200


@pytest.fixture
def two_controllers(shipped_mosquitto_url: str, database_url: str, topic_prefix: str,
                    tmp_path: Path) -> Iterator[list[ControllerProcess]]:
    env = {"HALL_MQTT_URL": shipped_mosquitto_url, "HALL_DATABASE_URL": database_url,
           "HALL_MQTT_TOPIC_PREFIX": topic_prefix,
           "HALL_MQTT_SHARED_GROUP": f"hall-{uuid.uuid4().hex[:6]}"}
    controllers = [ControllerProcess(name, {**env, "HALL_MQTT_CLIENT_ID": f"{name}-{uuid.uuid4().hex[:6]}"},
                                     tmp_path) for name in ("ctl-a", "ctl-b")]
    try:
        for controller in controllers:
            controller.wait_ready()
        yield controllers
    finally:
        for controller in controllers:
            controller.stop()


async def test_two_controller_processes_answer_200_concurrent_kiosks_exactly_once(
        two_controllers: list[ControllerProcess], shipped_mosquitto_url: str, topic_prefix: str) -> None:
    # Both are ready: health says ok only once every SUBSCRIBE is acknowledged.
    async with raw_kiosks(shipped_mosquitto_url, topic_prefix, KIOSKS) as kiosks:
        # One kiosk at a time first: the latency without any queueing.
        alone = [await kiosks[i % KIOSKS].take("finance") for i in range(50)]
        assert [r.body["result"]["ticket"] for r in alone] == [f"D{n:03d}" for n in range(1, 51)]
        rounds = []
        for service, prefix in (("student-id", "A"), ("transcript", "B")):
            replies = await asyncio.gather(*(k.take(service) for k in kiosks))
            rounds.append(replies)
            assert all(r.body["ok"] for r in replies), [r.body for r in replies if not r.body["ok"]][:3]
            numbers = [r.body["result"]["ticket"] for r in replies]
            assert len(set(numbers)) == KIOSKS, Counter(numbers).most_common(3)
            assert sorted(numbers) == [f"{prefix}{n:03d}" for n in range(1, KIOSKS + 1)]
        # Paced: every kiosk takes one ticket at a random moment of the same second (200
        # tickets/s, far above a real hall's rate, every kiosk connected and active).
        rng = random.Random(3)

        async def paced(kiosk: RawKiosk) -> Reply:
            await asyncio.sleep(rng.uniform(0, 1.0))
            return await kiosk.take("dorm")

        spread = await asyncio.gather(*(paced(k) for k in kiosks))
        assert sorted(r.body["result"]["ticket"] for r in spread) == [
            f"C{n:03d}" for n in range(1, KIOSKS + 1)]
        markers = await after_markers(kiosks)  # any duplicate reply would be in by now
        assert all(len(replies) == 1 for k in kiosks for replies in k.replies.values())
    handled = [c.requests_handled() for c in two_controllers]
    assert sum(handled) == 3 * KIOSKS + len(alone) + markers, handled
    assert min(handled) > 0, f"the shared subscription did not split the work: {handled}"
    print(f"\nticket.take one at a time, 2 controller processes: "
          f"{latency_summary([r.latency_s for r in alone])}")
    print(f"\nticket.take dorm: {KIOSKS} kiosks, each at a random moment of one second "
          f"(200/s), 2 controller processes: {latency_summary([r.latency_s for r in spread])}")
    for service, replies in zip(("student-id", "transcript"), rounds, strict=True):
        print(f"\nticket.take {service}: {KIOSKS} kiosks at once, 2 controller processes "
              f"(requests handled {handled[0]}/{handled[1]} over both rounds): "
              f"{latency_summary([r.latency_s for r in replies])}; {burst_summary(replies)}")


def test_mosquitto_pub_takes_a_ticket(two_controllers: list[ControllerProcess],
                                      shipped_mosquitto_url: str, topic_prefix: str) -> None:
    """DESIGN.md: the kiosk request must work from any MQTT client, e.g. mosquitto_pub."""
    device = "kiosk-shell"
    request = json.dumps({"id": "sh-1", "method": "ticket.take",
                          "params": {"service": "finance",
                                     "identity": {"type": "campus_card", "value": "20230001"}}})
    with ShellSubscriber(shipped_mosquitto_url, f"{topic_prefix}/dev/{device}/res") as answer:
        mosquitto_pub(shipped_mosquitto_url, "-t", f"{topic_prefix}/dev/{device}/req", "-m", request)
        reply = json.loads(answer.next_payload())
    assert reply["id"] == "sh-1" and reply["ok"], reply
    assert reply["result"]["ticket"] == "D001" and reply["result"]["cases"] == []
