"""Latency benchmark: the figures the test suite no longer asserts with sub-second limits.

Tests check that each thing happens (with generous deadlines); this prints how fast, on a
real Mosquitto and PostgreSQL with a running controller, over many repetitions:

  1. call → display   a clerk's call-next until the hall's display (a raw MQTT client on its
                      cmd topic) receives ``display.call`` (the issue's target: p99 ≤ 200 ms);
  2. door.forced → API a lock's ``door.forced`` event until the alarm is listed by
                      ``GET /api/v1/alarms`` (polled every 5 ms, so figures are ≤ 5 ms high);
  3. live hub publish one ticket move published to 100 live-page subscribers that read nothing.

Broker: a private Mosquitto on a free port with the shipped delivery options, unless
--broker-url is given. Database: a fresh database on --database-url, dropped afterwards.

    .venv/bin/python benchmarks/latency.py [--calls 200] [--doors 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import httpx
import psycopg
from argon2 import PasswordHasher
from psycopg import sql
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api import create_app
from api.auth import Authenticator
from devices.contract import Channel, Topics, now_ms
from hall.assembly import controller_bus
from hall.embedded_broker import free_port
from hall_controller.features import TicketsFeature
from hall_controller.fleet.model import Role
from hall_controller.fleet.views import FleetViews
from hall_controller.kernel.postgres.migrate import apply_migrations
from hall_controller.kernel.services import Services
from hall_controller.live.hub import SUBSCRIBER_QUEUE, LiveHub, LiveNotice
from hall_controller.queue.clerk import ClerkService, ClerkSettings
from hall_controller.queue.model import ServiceDef, TicketSource, WindowDef
from hall_controller.queue.ports import TicketRequest
from hall_controller.queue.postgres_moves import PostgresTicketMoves
from hall_controller.queue.tickets import QueueSettings
from hall_controller.runtime import ControllerSettings, HallController
from hall_controller.users.service import AuthSettings, ensure_user
from tests.support.hall_store import PostgresHallStore

SERVICES = (ServiceDef("student-id", "学生证办理", "A"),)
WINDOWS = (WindowDef("w3", 3, {"student-id": 1}, area="main-hall"),)
SHIPPED_DELIVERY_OPTIONS = """
set_tcp_nodelay true
max_inflight_messages 1000
max_queued_messages 1000000
max_queued_bytes 268435456
"""
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def summary(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, round(p / 100 * (len(ms) - 1)))]
    return (f"n={len(ms)} p50={pct(50):.1f} ms p90={pct(90):.1f} ms p99={pct(99):.1f} ms "
            f"max={ms[-1]:.1f} ms mean={statistics.fmean(ms):.1f} ms")


@contextlib.contextmanager
def private_mosquitto() -> Iterator[str]:
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="hall-bench-mqtt-"))
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n{SHIPPED_DELIVERY_OPTIONS}",
                    encoding="utf-8")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def fresh_database(server_dsn: str) -> AsyncIterator[str]:
    name = f"hall_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = make_conninfo(server_dsn, dbname=name)
    try:
        await apply_migrations(dsn)
        yield dsn
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def mqtt_client(url: str, name: str) -> aiomqtt.Client:
    parts = urlsplit(url)
    return aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883,
                          identifier=f"{name}-{uuid.uuid4().hex[:6]}")


async def birth(client: aiomqtt.Client, topics: Topics, device_id: str, kind: str) -> None:
    await client.publish(topics.device(device_id, Channel.STATE), json.dumps(
        {"online": True, "session": 1, "kind": kind, "model": "bench", "fw": "0", "ts": now_ms(),
         "site": "main-hall"}), qos=1, retain=True)


async def wait_online(controller: HallController, device_id: str) -> None:
    async with asyncio.timeout(10):
        while True:
            record = controller.registry.get(device_id)
            if record is not None and record.online:
                return
            await asyncio.sleep(0.01)


async def call_to_display(controller: HallController, store: PostgresHallStore, url: str,
                          topics: Topics, calls: int) -> list[float]:
    arrivals: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
    async with mqtt_client(url, "display") as display:
        await display.subscribe(topics.device("display-1", Channel.CMD), qos=1)

        async def listen() -> None:
            async for message in display.messages:
                body = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                arrivals.put_nowait((time.perf_counter(), body))
                await display.publish(topics.device("display-1", Channel.CMD_ACK), json.dumps(
                    {"id": body["id"], "ok": True, "result": {"shown": True}}), qos=1)

        listener = asyncio.create_task(listen())
        await birth(display, topics, "display-1", "queue_display")
        await wait_online(controller, "display-1")
        async with ClerkService(store, PostgresTicketMoves(store.pool),
                                ClerkSettings(windows=WINDOWS, services=SERVICES),
                                devices=controller.registry, commands=controller.commands) as clerk:
            day = clerk.service_day(now_ms())
            for i in range(calls):
                await store.issue_ticket(TicketRequest(
                    ticket_id=str(uuid.uuid4()), service_code="student-id", service_day=day,
                    issued_ms=now_ms() - 60_000 + i, actor="counter:bench",
                    source=TicketSource.COUNTER))
            await clerk.open_window("w3", "bench")
            latencies = []
            for _ in range(calls):
                started = time.perf_counter()
                await clerk.call_next("w3", "bench")
                async with asyncio.timeout(10):
                    while True:
                        arrived, body = await arrivals.get()
                        if body["method"] == "display.call":
                            break
                latencies.append(arrived - started)
                await clerk.no_show("w3", "bench")
            await clerk.drain()
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    return latencies


async def forced_door_to_api(controller: HallController, store: PostgresHallStore, url: str,
                             topics: Topics, doors: int) -> list[float]:
    authenticator = Authenticator(AuthSettings(secret="bench-" + "x" * 40, token_ttl_s=3600),
                                  store, hasher=CHEAP_HASHER)
    services = Services()
    for service in (controller.commands, controller.health, controller.alarms,
                    FleetViews(store), authenticator):
        services.add(service)
    app = create_app(services)
    await ensure_user(store, "bench-admin", "bench-password-1", Role.ADMIN, hasher=CHEAP_HASHER)
    latencies = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hall/api/v1", timeout=30) as api, \
            mqtt_client(url, "locks") as locks:
        token = (await api.post("/auth/token", data={
            "username": "bench-admin", "password": "bench-password-1"})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for n in range(doors):
            lock = f"lock-{n:03d}"
            await birth(locks, topics, lock, "door_lock")
            await wait_online(controller, lock)
            started = time.perf_counter()
            await locks.publish(topics.device(lock, Channel.EVENT), json.dumps(
                {"id": str(uuid.uuid4()), "ts": now_ms(), "type": "door.forced",
                 "data": {"contact": "open"}}), qos=1)
            async with asyncio.timeout(10):
                while True:
                    alarms = (await api.get("/alarms", headers=headers,
                                            params={"device_id": lock})).json()
                    if any(a["type"] == "door.forced" for a in alarms):
                        break
                    await asyncio.sleep(0.005)
            latencies.append(time.perf_counter() - started)
    return latencies


def live_hub_publish(subscribers: int = 100) -> list[float]:
    hub = LiveHub()
    subs = [hub.subscribe({"ticket"}) for _ in range(subscribers)]
    latencies = []
    for n in range(2 * SUBSCRIBER_QUEUE):
        notice = LiveNotice("ticket", {"ticket_id": f"t-{n}", "number": f"C{n:03d}",
                                       "to": "called", "window_id": "w1", "recalls": 0})
        started = time.perf_counter()
        hub.publish(notice)
        latencies.append(time.perf_counter() - started)
    assert all(s.dropped == SUBSCRIBER_QUEUE for s in subs)
    hub.close()
    return latencies


async def main(args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        url = args.broker_url or stack.enter_context(private_mosquitto())
        async with fresh_database(args.database_url) as dsn, \
                PostgresHallStore.connect(dsn, min_size=2, max_size=8) as store:
            assert isinstance(store, PostgresHallStore)
            prefix = f"bench-{uuid.uuid4().hex[:8]}/hall/v1"
            settings = ControllerSettings(mqtt_url=url, topic_prefix=prefix,
                                          client_id=f"bench-{uuid.uuid4().hex[:8]}")
            controller = HallController(
                settings, store, controller_bus(settings),
                [TicketsFeature(store, QueueSettings(services=SERVICES))])
            async with controller.running():
                async with asyncio.timeout(10):
                    await controller.bus.connected.wait()
                topics = Topics(prefix)
                calls = await call_to_display(controller, store, url, topics, args.calls)
                print(f"clerk call -> display.call received: {summary(calls)}", flush=True)
                doors = await forced_door_to_api(controller, store, url, topics, args.doors)
                print(f"door.forced -> alarm in GET /api/v1/alarms: {summary(doors)}", flush=True)
    print(f"live hub, one ticket move to 100 subscribers: {summary(live_hub_publish())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker-url", default="", help="default: a private Mosquitto")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--doors", type=int, default=100)
    logging.basicConfig(level=logging.ERROR)  # the alarms it raises are the point, not news
    asyncio.run(main(parser.parse_args()))
