"""The store alone: ``PostgresStore.commit_batch`` with no broker and no controller.

Batches of kiosk telemetry (3 metrics a message, as the simulated kiosks send), with and without
the registry upserts an ingest batch carries for the devices it heard from, against a fresh,
migrated database. Prints messages per second, the median of --runs runs per row, so the
ingest ceiling in docs/benchmarks.md can be told apart from the store's.

    .venv/bin/python benchmarks/store_batch.py [--database-url URL] [--runs 3] [--batches 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from ingest import fresh_database  # this folder: a sibling script

from devices.kinds import DeviceKind
from hall_controller.fleet.model import DeviceRecord, IngestBatch, TelemetryPoint
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.kernel.postgres.migrate import apply_migrations

DEVICES = 200
METRICS = ("cpu_temp_c", "paper_pct", "queue_len")


def batch_of(messages: int, start_ms: int, *, with_devices: bool) -> IngestBatch:
    """``messages`` telemetry messages spread over the devices, one timestamp each."""
    points = []
    devices = {}
    for n in range(messages):
        device_id = f"kiosk-{n % DEVICES:03d}"
        ts = start_ms + n
        points.extend(TelemetryPoint(device_id, ts, metric, float(n % 97))
                      for metric in METRICS)
        if with_devices:
            devices[device_id] = DeviceRecord(device_id, DeviceKind.KIOSK, site="main-hall",
                                              online=True, session=1, first_seen_ms=start_ms,
                                              last_seen_ms=ts, online_since_ms=start_ms)
    return IngestBatch(telemetry=points, devices=devices)


async def rate(store: PostgresStore, messages: int, batches: int, *, with_devices: bool,
               start_ms: int) -> float:
    prepared = [batch_of(messages, start_ms + b * messages, with_devices=with_devices)
                for b in range(batches)]
    started = time.perf_counter()
    for batch in prepared:
        await store.commit_batch(batch)
    return messages * batches / (time.perf_counter() - started)


async def main(args: argparse.Namespace) -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{args.batches} batches a run, median of {args.runs} runs")
    print(f"{'batch':>8}  {'telemetry only':>16}  {'with device updates':>20}")
    base = int(time.time() * 1000) - 3_600_000
    async with fresh_database(args.database_url) as dsn:
        await apply_migrations(dsn)
        async with PostgresStore.connect(dsn, min_size=1, max_size=2) as store:
            offset = 0
            for messages in (100, 1_000):
                figures = {}
                for with_devices in (False, True):
                    runs = []
                    for _ in range(args.runs):
                        runs.append(await rate(store, messages, args.batches,
                                               with_devices=with_devices, start_ms=base + offset))
                        offset += messages * args.batches
                    figures[with_devices] = statistics.median(runs)
                print(f"{messages:>8}  {figures[False]:>12,.0f} msg/s  {figures[True]:>15,.0f} msg/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get(
        "HALL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=20)
    parsed = parser.parse_args()
    assert parsed.runs > 0 and parsed.batches > 0, "--runs and --batches must be positive"
    asyncio.run(main(parsed))
