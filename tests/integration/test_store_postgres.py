"""PostgresStore against a real PostgreSQL: the shared store contract, then what only the
database has (migrations, partitions, retention, COPY, outages)."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import psycopg
import pytest

from devices.contract import now_ms
from hall_controller.adapters.postgres import migrate
from hall_controller.adapters.postgres.migrate import apply_migrations, load_migrations
from hall_controller.adapters.postgres.store import PostgresStore
from hall_controller.domain.model import DeviceRecord, IngestBatch, TelemetryPoint
from hall_controller.errors import StoreUnavailable
from tests.support.store_contract import BASE, StoreContract, dead_letter, device, event, points

pytestmark = pytest.mark.integration

DAY = 86_400_000


class TestPostgresStoreContract(StoreContract):
    """Everything a HallStore does, against PostgreSQL (``store`` from db_fixtures)."""


def partitions(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'telemetry'::regclass ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def day_name(ms: int) -> str:
    return "telemetry_p" + datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y%m%d")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- migrations -------------------------------------------------------------------------------


async def test_migrations_are_recorded_and_applied_once(empty_database_url: str) -> None:
    names = [m.name for m in load_migrations()]

    assert await apply_migrations(empty_database_url) == names
    assert await apply_migrations(empty_database_url) == []

    with psycopg.connect(empty_database_url) as conn:
        rows = conn.execute("SELECT version, name, applied_at FROM schema_migrations "
                            "ORDER BY version").fetchall()
    assert [(v, n) for v, n, _ in rows] == [(m.version, m.name) for m in load_migrations()]
    assert all(applied_at is not None for _, _, applied_at in rows)


async def test_controllers_starting_together_migrate_once(empty_database_url: str) -> None:
    results = await asyncio.gather(*(apply_migrations(empty_database_url) for _ in range(3)))

    names = [m.name for m in load_migrations()]
    assert sorted(results, key=len) == [[], [], names]


async def test_telemetry_stored_twice_before_0003_is_deduplicated_by_it(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A database in the field: at 0002, with telemetry stored twice by redelivery.
    monkeypatch.setattr(migrate, "load_migrations",
                        lambda: [m for m in load_migrations() if m.version <= 2])
    await apply_migrations(empty_database_url)
    monkeypatch.undo()
    far = int(datetime(2999, 6, 1, 12, tzinfo=UTC).timestamp() * 1000)  # default partition
    rows = [
        ("kiosk-1", BASE, "temperature_c", 40.0), ("kiosk-1", BASE, "temperature_c", 40.0),
        ("kiosk-1", BASE, "temperature_c", 99.0), ("kiosk-1", BASE + 1000, "temperature_c", 41.0),
        ("kiosk-1", BASE, "queue_len", 3.0), ("door-1", far, "battery_pct", 80.0),
        ("door-1", far, "battery_pct", 80.0),
    ]
    with psycopg.connect(empty_database_url) as conn:
        for device_id, ts_ms, metric, value in rows:  # one at a time: stored in this order
            conn.execute("INSERT INTO telemetry (device_id, ts, metric, value_num) "
                         "VALUES (%s, hall_ts(%s), %s, %s)", (device_id, ts_ms, metric, value))

    # [0]: later migrations (0004 tickets, 0005 cases, ...) follow; this test is about 0003.
    assert (await apply_migrations(empty_database_url))[0] == "0003_telemetry_unique"

    assert count(empty_database_url, "SELECT count(*) FROM telemetry") == 4
    assert count(empty_database_url, "SELECT count(*) FROM telemetry_default") == 1
    async with PostgresStore.connect(empty_database_url) as store:
        [bucket] = await store.telemetry_series("kiosk-1", "temperature_c", BASE, BASE + DAY, 60)
        assert (bucket.count, bucket.min, bucket.max) == (2, 40.0, 41.0)  # the first 40.0 kept
        # From now on a redelivery is skipped.
        await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE,
                                                              temperature_c=40.0)))
        [bucket] = await store.telemetry_series("kiosk-1", "temperature_c", BASE, BASE + DAY, 60)
        assert bucket.count == 2


def unique_index_coverage(dsn: str) -> tuple[list[str], list[str]]:
    """(telemetry partitions, partitions whose index belongs to the parent's unique index)."""
    with psycopg.connect(dsn) as conn:
        [definition] = conn.execute(
            "SELECT pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "WHERE x.indrelid = 'telemetry'::regclass AND x.indisunique").fetchone() or [""]
        assert "(device_id, metric, ts DESC)" in definition
        covered = conn.execute(
            "SELECT x.indrelid::regclass::text FROM pg_partition_tree('telemetry_sample') t "
            "JOIN pg_index x ON x.indexrelid = t.relid "
            "WHERE t.isleaf AND x.indisunique AND x.indisvalid ORDER BY 1").fetchall()
    return partitions(dsn), [r[0] for r in covered]


async def test_every_telemetry_partition_has_the_unique_index(
    store: PostgresStore, database_url: str,
) -> None:
    today = now_ms()
    ahead = today + 30 * DAY  # no partition yet: lands in the default partition
    await store.commit_batch(IngestBatch(telemetry=points("door-1", ahead, battery_pct=77)))
    await store.maintain(today, days_ahead=10)  # partitions made after the migration
    await store.maintain(ahead, days_ahead=0)  # one made with rows moved in from the default

    names, covered = unique_index_coverage(database_url)
    assert "telemetry_default" in names
    assert day_name(today + 10 * DAY) in names
    assert day_name(ahead) in names
    assert covered == names
    # The old non-unique index (same columns) is gone: one index to maintain, not two.
    assert count(database_url, "SELECT count(*) FROM pg_indexes "
                               "WHERE tablename = 'telemetry'") == 1


async def test_a_redelivered_sample_is_skipped_in_the_default_partition_and_after_it_moves(
    store: PostgresStore, database_url: str,
) -> None:
    far = int(datetime(2999, 6, 1, 12, tzinfo=UTC).timestamp() * 1000)  # a clock gone wrong
    sample = IngestBatch(telemetry=points("door-1", far, battery_pct=77))
    await store.commit_batch(sample)
    await store.commit_batch(sample)
    assert count(database_url, "SELECT count(*) FROM telemetry_default") == 1

    report = await store.maintain(far)  # the day gets its partition; the row moves there
    assert report.moved_rows == 1
    await store.commit_batch(sample)

    assert count(database_url, "SELECT count(*) FROM telemetry_default") == 0
    assert count(database_url, f"SELECT count(*) FROM {day_name(far)}") == 1


# -- partitions and retention -----------------------------------------------------------------


async def test_telemetry_is_partitioned_by_day_with_a_default_partition(
    store: PostgresStore, database_url: str,
) -> None:
    today = now_ms()
    await store.maintain(today)

    names = partitions(database_url)
    assert "telemetry_default" in names
    for ahead in range(4):
        assert day_name(today + ahead * DAY) in names
    assert await store.telemetry_storage() == "partitioned"


async def test_maintain_drops_partitions_older_than_retention(
    store: PostgresStore, database_url: str,
) -> None:
    today = now_ms()
    long_ago = today - 200 * DAY
    await store.maintain(long_ago)  # as if the controller had run back then
    await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", long_ago, temperature_c=20)))
    assert day_name(long_ago) in partitions(database_url)

    report = await store.maintain(today, retention_days=90)

    assert day_name(long_ago) in report.dropped
    assert day_name(long_ago) not in partitions(database_url)
    assert await store.telemetry_series("kiosk-1", "temperature_c", long_ago - DAY,
                                        long_ago + DAY, 3600) == []
    # A second run has nothing left to do.
    again = await store.maintain(today, retention_days=90)
    assert (again.created, again.dropped) == ([], [])


async def test_a_sample_far_outside_the_partitions_is_kept_in_the_default_partition(
    store: PostgresStore, database_url: str,
) -> None:
    far = int(datetime(2999, 6, 1, 12, tzinfo=UTC).timestamp() * 1000)  # a clock gone wrong
    await store.commit_batch(IngestBatch(telemetry=points("door-1", far, battery_pct=77)))

    assert count(database_url, "SELECT count(*) FROM telemetry_default") == 1
    [bucket] = await store.telemetry_series("door-1", "battery_pct", far - DAY, far + DAY, 60)
    assert bucket.last == 77.0

    # Once that day gets its partition, the row moves there rather than blocking it.
    report = await store.maintain(far, retention_days=90)
    assert day_name(far) in report.created
    assert report.moved_rows == 1
    assert count(database_url, "SELECT count(*) FROM telemetry_default") == 0
    [bucket] = await store.telemetry_series("door-1", "battery_pct", far - DAY, far + DAY, 60)
    assert bucket.count == 1


async def test_maintenance_while_ingesting_loses_nothing(
    store: PostgresStore, database_url: str,
) -> None:
    # Samples of a day without a partition (a device clock days behind) keep arriving while
    # maintenance creates that day's partition and moves the day's rows into it.
    behind = now_ms() - 5 * DAY
    stop = asyncio.Event()

    async def ingest() -> None:
        for i in range(40):
            await store.commit_batch(IngestBatch(telemetry=[
                TelemetryPoint(f"door-{n}", behind + i, "battery_pct", n) for n in range(100)]))
        stop.set()

    async def maintain() -> None:
        while not stop.is_set():
            await store.maintain(now_ms())
            await asyncio.sleep(0.005)

    await asyncio.gather(ingest(), maintain())
    await store.maintain(now_ms())

    assert count(database_url, "SELECT count(*) FROM telemetry") == 4000
    assert count(database_url, "SELECT count(*) FROM telemetry_default") == 0
    assert day_name(behind) in partitions(database_url)


async def test_maintain_prunes_old_rows_and_dead_letters(
    store: PostgresStore, database_url: str,
) -> None:
    ancient = now_ms() - 400 * DAY  # before any partition: lands in the default partition
    await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", ancient, x=1)))
    await store.commit_batch(IngestBatch(dead_letters=[dead_letter(ancient, "old: x"),
                                                       dead_letter(now_ms(), "new: y")]))

    report = await store.maintain(now_ms(), retention_days=90)

    assert report.pruned_rows == 1
    assert report.pruned_dead_letters == 1
    assert [d.reason for d in await store.list_dead_letters()] == ["new: y"]


# -- transactions and errors ------------------------------------------------------------------


async def test_a_batch_the_database_refuses_commits_nothing_and_is_not_unavailable(
    store: PostgresStore,
) -> None:
    # session beyond bigint: refused by the database, after the COPY and the event insert ran.
    poison = device("kiosk-1", session=2**70)
    opened = event("door-1", BASE)
    batch = IngestBatch(telemetry=points("kiosk-1", BASE, x=1), events=[opened],
                        devices={"kiosk-1": poison})

    with pytest.raises(psycopg.DataError):  # not StoreUnavailable: retrying cannot help
        await store.commit_batch(batch)

    assert await store.list_events(None, 10) == []
    assert await store.latest_values() == {}
    assert await store.telemetry_series("kiosk-1", "x", BASE - DAY, BASE + DAY, 60) == []
    # The event was not consumed by the failed attempt: it is new next time; nor was the
    # sample (nor is it left in the session's staging table to be stored twice).
    assert await store.commit_batch(IngestBatch(
        telemetry=points("kiosk-1", BASE, x=1), events=[opened])) == {opened.event_id}
    [bucket] = await store.telemetry_series("kiosk-1", "x", BASE - DAY, BASE + DAY, 60)
    assert bucket.count == 1


async def test_an_unreachable_database_is_store_unavailable() -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres?connect_timeout=2"

    with pytest.raises(StoreUnavailable):
        async with PostgresStore.connect(dsn, timeout_s=1):
            pass
    with pytest.raises(StoreUnavailable):
        await apply_migrations(dsn)


async def test_large_batches_commit_in_one_go(store: PostgresStore, database_url: str) -> None:
    devices = [f"gate-{i}" for i in range(50)]
    batch = IngestBatch(
        telemetry=[TelemetryPoint(d, BASE + i, metric, float(i))
                   for i in range(60) for d in devices
                   for metric in ("temperature_c", "passages", "fps")],
        events=[event(d, BASE + i) for i in range(20) for d in devices],
        devices={d: DeviceRecord(d, device("x").kind, last_seen_ms=BASE) for d in devices},
    )

    new = await store.commit_batch(batch)

    assert len(new) == 1000
    assert count(database_url, "SELECT count(*) FROM telemetry") == 9000
    assert count(database_url, "SELECT count(*) FROM telemetry_latest") == 150
    latest = await store.latest_values(["gate-7"])
    assert {v.metric: (v.ts_ms, v.value) for v in latest["gate-7"]} == {
        m: (BASE + 59, 59.0) for m in ("temperature_c", "passages", "fps")}
