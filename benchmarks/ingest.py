"""Ingest benchmark: simulated devices → a real Mosquitto → the controller → PostgreSQL.

Three runs, same broker and publishers:
  1. raw ceiling   – a bare paho-mqtt subscriber (QoS 1, auto-ack) that only counts;
  2. saturation    – the hall controller committing everything it can (telemetry by COPY,
                     ack after commit): messages committed per second;
  3. lag           – a fixed offered rate below saturation: end-to-end lag p50/p99 from the
                     device's timestamp to the moment its batch is committed.

Then the cost of alarm rules: saturation and lag with no rules and with 200 (``--rules``), in
the same run (docs/benchmarks.md, "Alarm rules"; the rules: benchmarks/alarm_rules_load.py).

Then the same three over TLS (``mqtts://``, certificates made by hall/tls.py) against the same
Mosquitto's TLS listener, with the same devices, messages and rates, and the TLS/plain ratios:
the cost of TLS is a figure, not a guess (docs/benchmarks.md, "Ingest over TLS").

Publishers are separate processes (paho, QoS 1) so the controller's event loop is not theirs.
Broker: a private Mosquitto on free ports (one plain listener, one TLS-only listener) with
deploy/mosquitto/hall.conf's queue settings, unless --broker-url is given (then no TLS part).
Database: a fresh database on --database-url, dropped afterwards.
Everything stays on 127.0.0.1 and stops by itself.

    .venv/bin/python benchmarks/ingest.py [--devices 200] [--seconds 10] [--rate 2000]
                                          [--no-tls | --tls-first] [--rules 200]
                                          [--rules-only] [--no-rules]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.alarm_rules_load import bench_rules, engine_cost
from devices.broker_address import BrokerAddress, with_tls_files
from devices.contract import Channel, Topics, now_ms
from hall.assembly import controller_bus
from hall.embedded_broker import free_port
from hall.tls import ensure_broker_certificates
from hall_controller.alarm_rules.drafts import parse_rule
from hall_controller.alarm_rules.model import AuditEntry
from hall_controller.alarm_rules.postgres_store import PostgresAlarmRuleStore
from hall_controller.features import AlarmRulesFeature
from hall_controller.fleet.model import IngestBatch
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.kernel.postgres.migrate import apply_migrations
from hall_controller.runtime import ControllerSettings, Feature, HallController

ROOT = Path(__file__).resolve().parents[1]


# -- publishers (child processes) -----------------------------------------------------------

def _publisher(url: str, prefix: str, device_ids: list[str], seconds: float, rate: float | None,
               start_at: float, counter: Any) -> None:
    """Publish telemetry round-robin over ``device_ids``; ``rate`` msg/s or as fast as possible."""
    topics = Topics(prefix)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    _connect(client, url)
    client.loop_start()
    names = [topics.device(d, Channel.TELEMETRY) for d in device_ids]
    last_ts = [0] * len(names)  # per device: a sample is (device, metric, ts), keep ts moving
    while time.time() < start_at:
        time.sleep(0.001)
    sent = 0
    end = start_at + seconds
    while True:
        now = time.time()
        if now >= end:
            break
        if rate is not None:
            due = int((now - start_at) * rate)
            if sent >= due:
                time.sleep(0.0005)
                continue
        slot = sent % len(names)
        ts = last_ts[slot] = max(now_ms(), last_ts[slot] + 1)
        # Three values per message, like a kiosk: paper, printer state, temperature.
        payload = json.dumps({"ts": ts, "values": {"paper_level_pct": sent % 100,
                                                   "printer_state": "ok", "cpu_temp_c": 45.5}})
        info = client.publish(names[slot], payload, qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            time.sleep(0.001)
            continue
        sent += 1
        if sent % 200 == 0:
            # Stay within the in-flight window instead of buffering unboundedly in paho.
            while len(client._out_messages) > 900:
                time.sleep(0.0005)
    # Let the in-flight messages finish.
    deadline = time.time() + 10
    while client._out_messages and time.time() < deadline:
        time.sleep(0.01)
    client.loop_stop()
    client.disconnect()
    with counter.get_lock():
        counter.value += sent


def _connect(client: paho.Client, url: str) -> None:
    """Connect a paho client to ``url``: plain, or TLS verified with the URL's CA (mqtts://)."""
    address = BrokerAddress.parse(url)
    context = address.ssl_context()
    if context is not None:
        client.tls_set_context(context)
    client.connect(address.host, address.port)


def _run_publishers(url: str, prefix: str, devices: int, seconds: float, rate: float | None,
                    processes: int) -> tuple[list[mp.Process], Any, float]:
    ids = [f"bench-{i:05d}" for i in range(devices)]
    counter = mp.Value("q", 0)
    start_at = time.time() + 1.0
    procs = []
    for p in range(processes):
        share = ids[p::processes]
        proc = mp.Process(target=_publisher, args=(url, prefix, share, seconds,
                                                   rate / processes if rate else None, start_at,
                                                   counter), daemon=True)
        proc.start()
        procs.append(proc)
    return procs, counter, start_at


# -- broker and database ------------------------------------------------------------------

@dataclass(frozen=True)
class PrivateBroker:
    plain_url: str
    tls_url: str


@contextlib.contextmanager
def private_mosquitto() -> Iterator[PrivateBroker]:
    """One Mosquitto, two listeners: plain, and TLS-only with certificates from hall/tls.py."""
    port, tls_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="hall-bench-mosq-"))
    conf = workdir / "mosquitto.conf"
    certificates = ensure_broker_certificates(workdir)
    # The queue and in-flight settings of the shipped production config, on private ports.
    # Mosquitto runs as this user: the generated keys are 0600, its own account could not read them.
    lines = [f"user {getpass.getuser()}", "allow_anonymous true", "persistence false"]
    shipped = ROOT / "deploy" / "mosquitto" / "hall.conf"
    if shipped.is_file():
        for line in shipped.read_text().splitlines():
            key = line.split("#", 1)[0].strip().split(" ", 1)[0]
            if key in ("max_queued_messages", "max_queued_bytes", "max_inflight_messages",
                       "max_inflight_bytes", "max_packet_size"):
                lines.append(line.split("#", 1)[0].strip())
    lines += [f"listener {port} 127.0.0.1",
              f"listener {tls_port} 127.0.0.1", f"cafile {certificates.ca_file}",
              f"certfile {certificates.cert_file}", f"keyfile {certificates.key_file}"]
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        for listening in (port, tls_port):
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", listening), timeout=0.2):
                        break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.05)
        yield PrivateBroker(f"mqtt://127.0.0.1:{port}", with_tls_files(
            f"mqtts://127.0.0.1:{tls_port}", ca_file=str(certificates.ca_file)))
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    name = f"hall_bench_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)
    dsn = parts._replace(path=f"/{name}").geturl()
    try:
        yield dsn
    finally:
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- measurement ----------------------------------------------------------------------------

class MeasuringStore:
    """The real PostgresStore, plus a record of when each message's batch committed."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self.committed_messages = 0
        self.lags_ms: list[int] = []
        self.first_commit: float | None = None
        self.last_commit = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def commit_batch(self, batch: IngestBatch) -> set[str]:
        result = await self._store.commit_batch(batch)
        done = now_ms()
        messages = {(p.device_id, p.ts_ms) for p in batch.telemetry if p.device_id.startswith("bench-")}
        self.committed_messages += len(messages)
        self.lags_ms.extend(done - ts for _, ts in messages)
        now = time.monotonic()
        if messages and self.first_commit is None:
            self.first_commit = now
        if messages:
            self.last_commit = now
        return result


def raw_ceiling(url: str, prefix: str, devices: int, seconds: float, processes: int) -> float:
    received = 0
    first: list[float] = []
    last = [0.0]

    def on_message(client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        nonlocal received
        received += 1
        now = time.monotonic()
        if not first:
            first.append(now)
        last[0] = now

    sub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{uuid.uuid4().hex[:6]}")
    sub.on_message = on_message
    _connect(sub, url)
    sub.subscribe(f"{prefix}/#", qos=1)
    thread = threading.Thread(target=sub.loop_forever, daemon=True)
    thread.start()
    time.sleep(0.5)
    procs, counter, _ = _run_publishers(url, prefix, devices, seconds, None, processes)
    for proc in procs:
        proc.join()
    deadline = time.time() + 15
    while received < counter.value and time.time() < deadline:
        time.sleep(0.05)
    sub.disconnect()
    thread.join(timeout=5)
    elapsed = (last[0] - first[0]) if first else 1.0
    print(f"  raw ceiling: sent {counter.value}, received {received} in {elapsed:.1f} s "
          f"→ {received / elapsed:,.0f} msg/s")
    return received / elapsed


async def controller_run(url: str, database_url: str, prefix: str, devices: int, seconds: float,
                         rate: float | None, processes: int, rules: int | None = None
                         ) -> tuple[float, list[int], int, int]:
    """``rules``: None, no alarm rules feature; a number, the feature with that many rules."""
    async with fresh_database(database_url) as dsn:
        await apply_migrations(dsn)
        async with PostgresStore.connect(dsn, min_size=2, max_size=4) as store:
            measuring = MeasuringStore(store)
            settings = ControllerSettings(mqtt_url=url, topic_prefix=prefix,
                                          client_id=f"bench-ctl-{uuid.uuid4().hex[:6]}")
            features: list[Feature] = []
            if rules is not None:
                # Stored as the API stores them (the fleet check is skipped: the bench's
                # devices send no birth, so the hall does not list them).
                rule_store = PostgresAlarmRuleStore(store.pool)
                for body in bench_rules(rules):
                    await rule_store.create_rule(parse_rule(body), AuditEntry(
                        body["id"], "created", "bench", now_ms(), None, body))
                features.append(AlarmRulesFeature(rule_store, rule_store, "Asia/Shanghai"))
            controller = HallController(settings, measuring,  # type: ignore[arg-type]
                                        controller_bus(settings), features)
            async with controller.running():
                await controller.bus.connected.wait()
                procs, counter, _ = await asyncio.to_thread(
                    _run_publishers, url, prefix, devices, seconds, rate, processes)
                for proc in procs:
                    await asyncio.to_thread(proc.join)
                deadline = time.monotonic() + 30
                while measuring.committed_messages < counter.value and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            # Check against the database itself, not only our own count.
            async with await psycopg.AsyncConnection.connect(dsn) as conn:
                row = await (await conn.execute(
                    "SELECT count(*) FROM telemetry WHERE metric = 'paper_level_pct'")).fetchone()
            in_db = int(row[0]) if row else 0
            elapsed = ((measuring.last_commit - measuring.first_commit)
                       if measuring.first_commit else 1.0)
            rate_done = measuring.committed_messages / max(elapsed, 1e-6)
            return rate_done, measuring.lags_ms, counter.value, in_db


def pct(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


@dataclass(frozen=True)
class IngestFigures:
    ceiling: float
    committed: float
    p50_ms: float
    p99_ms: float
    lost: int


async def measure(url: str, args: argparse.Namespace, label: str) -> IngestFigures:
    """The three runs (raw ceiling, saturation, lag at a fixed rate) against ``url``."""
    print(f"{label}: broker {BrokerAddress.parse(url).display}")
    ceiling = raw_ceiling(url, f"bench-{uuid.uuid4().hex[:6]}/hall/v1", args.devices,
                          args.seconds, args.publishers)
    done, lags, sent, in_db = await controller_run(
        url, args.database_url, f"bench-{uuid.uuid4().hex[:6]}/hall/v1", args.devices,
        args.seconds, None, args.publishers)
    print(f"  saturation:  sent {sent}, committed {len(lags)} ({in_db} rows of one metric in "
          f"the database) → {done:,.0f} msg/s committed; lag p50 {pct(lags, .5):.0f} ms "
          f"p99 {pct(lags, .99):.0f} ms (queueing included)")
    _, lags_fixed, sent_fixed, in_db_fixed = await controller_run(
        url, args.database_url, f"bench-{uuid.uuid4().hex[:6]}/hall/v1", args.devices,
        args.seconds, args.rate, args.publishers)
    print(f"  lag at {args.rate:,.0f} msg/s offered: sent {sent_fixed}, committed "
          f"{len(lags_fixed)} (in db {in_db_fixed}); end-to-end lag p50 "
          f"{pct(lags_fixed, .5):.0f} ms, p99 {pct(lags_fixed, .99):.0f} ms, "
          f"max {max(lags_fixed, default=0)} ms")
    print(f"  ratio committed / raw ceiling: {done / ceiling:.2f}")
    lost = sent - len(lags) + sent_fixed - len(lags_fixed)
    print(f"  messages lost: {lost}")
    print(f"  summary: ceiling={ceiling:.0f} committed={done:.0f} p50={pct(lags_fixed, .5):.0f} "
          f"p99={pct(lags_fixed, .99):.0f} mean={statistics.fmean(lags_fixed) if lags_fixed else 0:.0f}")
    return IngestFigures(ceiling, done, pct(lags_fixed, .5), pct(lags_fixed, .99), lost)


async def measure_rules(url: str, args: argparse.Namespace) -> None:
    """Saturation and lag with the alarm rules feature installed: no rules against
    ``args.rules`` rules, in one run against the same broker. On a shared machine the later of
    two runs tends to be the slower, whatever it runs: the runs go none, rules, rules, none
    (ABBA), and each figure is the mean of its two."""
    print(f"alarm rules: {args.rules} rules active against none, broker "
          f"{BrokerAddress.parse(url).display}")
    runs: dict[int, list[tuple[float, float, float]]] = {0: [], args.rules: []}
    for rules in (0, args.rules, args.rules, 0):
        done, _, _, _ = await controller_run(
            url, args.database_url, f"bench-{uuid.uuid4().hex[:6]}/hall/v1", args.devices,
            args.seconds, None, args.publishers, rules)
        _, lags, sent_fixed, _ = await controller_run(
            url, args.database_url, f"bench-{uuid.uuid4().hex[:6]}/hall/v1", args.devices,
            args.seconds, args.rate, args.publishers, rules)
        runs[rules].append((done, pct(lags, .5), pct(lags, .99)))
        lost = sent_fixed - len(lags)
        print(f"  {rules:>3} rules: committed {done:,.0f} msg/s; at {args.rate:,.0f} msg/s "
              f"offered lag p50 {pct(lags, .5):.0f} ms p99 {pct(lags, .99):.0f} ms "
              f"(lost {lost})")
    bare, ruled = engine_cost(args.rules, args.devices)
    print(f"  rule engine alone: {bare:.2f} µs per telemetry point with no rules, {ruled:.2f} µs "
          f"with {args.rules} (≈ {ruled * 3:.0f} µs per 3-value message on the ingest path)")
    print("  alarm rules, mean of two runs each (ABBA), same broker, devices and rates:")
    for index, (name, unit) in enumerate((("committed", "msg/s"),
                                          (f"lag p50 at {args.rate:,.0f} msg/s", "ms"),
                                          (f"lag p99 at {args.rate:,.0f} msg/s", "ms"))):
        a = statistics.fmean(r[index] for r in runs[0])
        b = statistics.fmean(r[index] for r in runs[args.rules])
        print(f"  {name:<26} no rules {a:>9,.0f} {unit:<5}  {args.rules} rules {b:>9,.0f} "
              f"{unit:<5}  ratio {b / a if a else float('nan'):.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="offered msg/s for the lag run")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument("--broker-url", default="", help="use this broker instead of a private "
                                                         "Mosquitto (no TLS part then)")
    parser.add_argument("--no-tls", action="store_true", help="skip the runs over TLS")
    parser.add_argument("--tls-first", action="store_true",
                        help="run the TLS part before the plain one")
    parser.add_argument("--rules", type=int, default=200,
                        help="alarm rules active in the rules comparison")
    parser.add_argument("--no-rules", action="store_true", help="skip the rules comparison")
    parser.add_argument("--rules-only", action="store_true",
                        help="only the rules comparison (plain TCP)")
    parser.add_argument("--database-url", default=os.environ.get(
        "HALL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        broker = None if args.broker_url else stack.enter_context(private_mosquitto())
        url = args.broker_url or (broker.plain_url if broker else "")
        print(f"ingest benchmark: {args.devices} devices, {args.publishers} publisher processes, "
              f"{os.cpu_count()} cores")
        if args.rules_only:
            await measure_rules(url, args)
            return
        if broker is None or args.no_tls:
            await measure(url, args, "plain TCP")
            if not args.no_rules:
                await measure_rules(url, args)
            return
        tls_label = "TLS (mqtts, same Mosquitto, same data)"
        # On a shared machine the later of two runs tends to be the slower one, whatever it
        # runs: --tls-first swaps the order, so a pair of runs can show the order's share.
        if args.tls_first:
            tls = await measure(broker.tls_url, args, tls_label)
            plain = await measure(url, args, "plain TCP")
        else:
            plain = await measure(url, args, "plain TCP")
            tls = await measure(broker.tls_url, args, tls_label)
        if not args.no_rules:
            await measure_rules(url, args)
        print("TLS vs plain TCP (same run, same broker process, same devices and rates):")
        for name, a, b, unit in (("raw ceiling", plain.ceiling, tls.ceiling, "msg/s"),
                                 ("committed", plain.committed, tls.committed, "msg/s"),
                                 (f"lag p50 at {args.rate:,.0f} msg/s", plain.p50_ms, tls.p50_ms, "ms"),
                                 (f"lag p99 at {args.rate:,.0f} msg/s", plain.p99_ms, tls.p99_ms, "ms")):
            print(f"  {name:<26} plain {a:>9,.0f} {unit:<5}  TLS {b:>9,.0f} {unit:<5}  "
                  f"TLS/plain {b / a if a else float('nan'):.2f}")
        print(f"  messages lost: plain {plain.lost}, TLS {tls.lost}")


if __name__ == "__main__":
    asyncio.run(main())
