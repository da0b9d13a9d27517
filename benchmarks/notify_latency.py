"""Alarm → mail: the time from a lock's ``door.forced`` event, published on the real broker,
to the notification mail arriving at a real SMTP server (aiosmtpd), through the controller
(ingest, commit, alarm, notifier, PostgreSQL, delivery dispatcher, aiosmtplib). With
``--rule``, the time from a kiosk's telemetry sample past an alarm rule's threshold (a rule
staff wrote: ``cpu_temp_c`` above 70 °C, critical, no duration) to its mail instead: the rule
engine on the ingest path comes in between.

Each sample is a different lock, so every event raises a new alarm (one alarm per device and
type while active); the samples run one after another (latency, not throughput), then a burst
of ``--burst`` locks at once shows the time until the last mail is in.

    .venv/bin/python benchmarks/notify_latency.py [--alarms 100] [--burst 50] [--rule]
        [--broker-url mqtt://127.0.0.1:1883] [--database-url postgresql://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.latency import fresh_database, summary
from devices.contract import Channel, Topics, now_ms
from hall_controller.alarm_rules.service import AlarmRuleService
from tests.support.controller import mqtt_client
from tests.support.hall_store import PostgresHallStore
from tests.support.notify_hall import notify_hall


async def publish_forced(client: object, topics: Topics, device_id: str) -> None:
    body = {"id": str(uuid.uuid4()), "ts": now_ms(), "type": "door.forced",
            "data": {"mode": "normal"}}
    await client.publish(topics.device(device_id, Channel.EVENT), json.dumps(body).encode(),  # type: ignore[attr-defined]
                         qos=1)


async def publish_hot(client: object, topics: Topics, device_id: str) -> None:
    body = {"ts": now_ms(), "values": {"cpu_temp_c": 75.0}}
    await client.publish(topics.device(device_id, Channel.TELEMETRY),  # type: ignore[attr-defined]
                         json.dumps(body).encode(), qos=1)


HOT_RULE = {
    "id": "bench-hot", "name": "kiosk too hot", "severity": "critical",
    "target": {"devices": "bench-kiosk-*"},
    "condition": {"type": "above", "metric": "cpu_temp_c", "threshold": 70, "clear_at": 60,
                  "for_s": 0},
    "message": {"zh-CN": "{device} 温度 {value}{unit}", "en": "{device} at {value} {unit}"}}


async def run(args: argparse.Namespace) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:6]}/hall/v1"
    topics = Topics(prefix)
    async with fresh_database(args.database_url) as dsn, \
            PostgresHallStore.connect(dsn, min_size=2, max_size=8) as store, \
            notify_hall(args.broker_url, prefix, store, escalation_s=(3600.0,),
                        alarm_rules=args.rule) as hall, \
            mqtt_client(args.broker_url, f"bench-locks-{uuid.uuid4().hex[:6]}") as client:
        kind, name = ("kiosk", "bench-kiosk") if args.rule else ("door_lock", "bench-lock")
        publish = publish_hot if args.rule else publish_forced
        what = "cpu_temp_c past a rule" if args.rule else "door.forced"
        locks = [f"{name}-{i}" for i in range(args.alarms + args.burst)]
        for device_id in locks:
            await client.publish(topics.device(device_id, Channel.STATE), json.dumps({
                "online": True, "session": 1, "kind": kind, "model": "bench", "fw": "1",
                "ts": now_ms()}).encode(), qos=1)
        deadline = time.monotonic() + 30
        while sum(hall.controller.registry.get(d) is not None for d in locks) < len(locks):
            if time.monotonic() > deadline:
                raise SystemExit("the devices did not register within 30 s")
            await asyncio.sleep(0.05)
        if args.rule:
            await hall.controller.services.get(AlarmRuleService).create(HOT_RULE, "bench",
                                                                        now_ms())

        address = hall.on_call.email
        samples: list[float] = []
        for device_id in locks[:args.alarms]:
            before = len(hall.mail.to(address))
            start = time.time()
            await publish(client, topics, device_id)
            # The mail's arrival time is stamped by the SMTP server, so how often this loop
            # looks does not change the figure.
            while len(hall.mail.to(address)) == before:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            samples.append(hall.mail.to(address)[-1].at - start)
        print(f"{what} → mail, one at a time ({len(samples)} alarms): {summary(samples)}")

        before = len(hall.mail.to(address))
        start = time.time()
        await asyncio.gather(*(publish(client, topics, d) for d in locks[args.alarms:]))
        while len(hall.mail.to(address)) < before + args.burst:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        arrivals = [m.at - start for m in hall.mail.to(address)[before:]]
        print(f"{what} → mail, burst of {args.burst} at once: {summary(arrivals)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alarms", type=int, default=100)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--rule", action="store_true",
                        help="a telemetry sample past an alarm rule instead of door.forced")
    parser.add_argument("--broker-url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
