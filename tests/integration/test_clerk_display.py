"""A clerk's call reaches the hall's display: real Mosquitto, real PostgreSQL, a running
controller, and a "display" made of nothing but MQTT (site main-hall) listening on its cmd
topic. How fast (the issue's target: p99 ≤ 200 ms) is printed by ``benchmarks/latency.py``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from devices.contract import Channel
from hall_controller.queue.clerk import ClerkService, ClerkSettings
from hall_controller.queue.model import ServiceDef, TicketSource, WindowDef
from hall_controller.queue.ports import TicketRequest
from hall_controller.queue.postgres_moves import PostgresTicketMoves
from hall_controller.queue.tickets import QueueSettings
from tests.support.controller import RawDevice, eventually, raw_device, running_controller
from tests.support.hall_store import PostgresHallStore
from tests.support.kiosks import mosquitto_url

__all__ = ["mosquitto_url"]  # a fixture, imported to be found

SERVICES = (ServiceDef("student-id", "学生证办理", "A"), ServiceDef("dorm", "宿舍事务", "C"))
WINDOWS = (WindowDef("w3", 3, {"student-id": 2, "dorm": 1}, area="main-hall"),
           WindowDef("w9", 9, {"dorm": 1}, area="dorm-office"))
CALLS = 50

Received = tuple[float, dict[str, Any]]


@contextlib.asynccontextmanager
async def listening_display(device: RawDevice) -> AsyncIterator[asyncio.Queue[Received]]:
    """Subscribe to the display's cmd topic, acknowledge every command like a real panel, and
    hand each command over with the moment it arrived."""
    received: asyncio.Queue[Received] = asyncio.Queue()
    await device.client.subscribe(device.topic(Channel.CMD), qos=1)

    async def listen() -> None:
        async for message in device.client.messages:
            arrived = time.perf_counter()
            body = json.loads(bytes(message.payload))
            received.put_nowait((arrived, body))
            await device.send(Channel.CMD_ACK, {"id": body["id"], "ok": True,
                                                "result": {"shown": True}})

    async with asyncio.TaskGroup() as tasks:
        listener = tasks.create_task(listen(), name="display-listener")
        try:
            yield received
        finally:
            listener.cancel()


async def next_command(received: asyncio.Queue[Received], method: str,
                       timeout_s: float = 10.0) -> Received:
    async with asyncio.timeout(timeout_s):
        while True:
            arrived, body = await received.get()
            if body["method"] == method:
                return arrived, body


async def test_every_clerk_call_reaches_the_display_with_the_waiting_list(
        mosquitto_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    queue = QueueSettings(services=SERVICES)
    async with (running_controller(mosquitto_url, topic_prefix, hall_store,
                                   queue=queue) as controller,
                raw_device(mosquitto_url, topic_prefix, "display-1") as display,
                listening_display(display) as received):
        await display.birth("queue_display", site="main-hall")

        async def display_online() -> bool:
            record = controller.registry.get("display-1")
            return record is not None and record.online

        await eventually(display_online, what="the display to be online")
        async with ClerkService(hall_store, PostgresTicketMoves(hall_store.pool),
                                ClerkSettings(windows=WINDOWS, services=SERVICES),
                                devices=controller.registry,
                                commands=controller.commands) as clerk:
            day = clerk.service_day(int(time.time() * 1000))
            for i in range(CALLS):
                await hall_store.issue_ticket(TicketRequest(
                    ticket_id=f"00000000-0000-4000-8000-{i:012d}", service_code="student-id",
                    service_day=day, issued_ms=int(time.time() * 1000) - 60_000 + i,
                    actor="counter:test", source=TicketSource.COUNTER))
            await clerk.open_window("w3", "alice")

            for i in range(CALLS):
                ticket = await clerk.call_next("w3", "alice")
                assert ticket is not None and ticket.number == f"A{i + 1:03d}"
                _, command = await next_command(received, "display.call")
                assert command["params"] == {
                    "ticket": ticket.number, "window": 3,
                    "text": f"请 {ticket.number} 号到 3 号窗口办理", "lang": "zh-CN"}
                _, waiting = await next_command(received, "display.queue")
                assert waiting["params"]["services"][0]["next"][:1] == (
                    [f"A{i + 2:03d}"] if i + 1 < CALLS else [])
                await clerk.no_show("w3", "alice")
            await clerk.drain()
