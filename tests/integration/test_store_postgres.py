"""PostgresStore against a real PostgreSQL: the shared store contract, then what only the
database has (migrations, partitions or chunks, retention, COPY, outages).

The storage tests run against either kind of server and pick their assertions by what the
migrations chose there (the ``telemetry_storage`` fixture): native partitions on a plain
PostgreSQL (``make test``), hypertable, chunks, policies and the minute aggregate on one with
TimescaleDB preloaded (``make test-timescale``).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from devices.contract import now_ms
from hall_controller.fleet.model import (
    DeviceRecord,
    IngestBatch,
    TelemetryBucket,
    TelemetryPoint,
)
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.fleet.queries import QUERIES
from hall_controller.kernel.errors import StoreUnavailable
from hall_controller.kernel.postgres import migrate
from hall_controller.kernel.postgres.migrate import apply_migrations, load_migrations
from hall_controller.users.postgres_store import PostgresUserStore
from tests.support.store_contract import (
    BASE,
    StoreContract,
    UserStoreContract,
    dead_letter,
    device,
    event,
    points,
)

pytestmark = pytest.mark.integration

DAY = 86_400_000
HOUR = 3_600_000
MINUTE = 60_000
TIMESCALE = "timescaledb"
# TimescaleDB 2.22.1 on PostgreSQL 15.20 (Debian's): every job its scheduler runs does its work
# and commits, then fails as it cleans up (docs/deployment.md, "TimescaleDB"). Any other job
# error fails the tests.
KNOWN_JOB_ERROR = 'cannot drop portal "" while it is being set up'


class TestPostgresStoreContract(StoreContract):
    """Everything a HallStore does, against PostgreSQL (``store`` from db_fixtures)."""


@pytest.fixture
def users(store: PostgresStore) -> PostgresUserStore:
    return PostgresUserStore(store.pool)


class TestPostgresUserStoreContract(UserStoreContract):
    """Everything a UserStore does, against PostgreSQL, on the fleet store's pool."""


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


def query(dsn: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(statement, params).fetchall()


def execute(dsn: str, statement: str, params: Any = None) -> None:
    """Run one statement outside a transaction (some TimescaleDB calls refuse to be in one)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement, params)


# TimescaleDB's side of things, through its information views.

def chunks(dsn: str) -> list[tuple[str, datetime, datetime, bool]]:
    """The telemetry hypertable's chunks, oldest first: (name, start, end, compressed)."""
    return [(r[0], r[1], r[2], r[3]) for r in query(
        dsn, "SELECT chunk_name, range_start, range_end, is_compressed "
             "FROM timescaledb_information.chunks WHERE hypertable_name = 'telemetry' "
             "ORDER BY range_start")]


def chunk_holding(dsn: str, ms: int) -> str | None:
    """The name of the chunk whose range holds this instant, if there is one."""
    at = datetime.fromtimestamp(ms / 1000, UTC)
    return next((name for name, start, end, _ in chunks(dsn) if start <= at < end), None)


def chunks_without_the_unique_index(dsn: str) -> list[str]:
    return [r[0] for r in query(
        dsn, "SELECT ch.chunk_name FROM timescaledb_information.chunks ch "
             "WHERE ch.hypertable_name = 'telemetry' AND NOT EXISTS ("
             "  SELECT 1 FROM pg_index x "
             "  WHERE x.indrelid = format('%I.%I', ch.chunk_schema, ch.chunk_name)::regclass"
             "    AND x.indisunique AND x.indisvalid"
             "    AND pg_get_indexdef(x.indexrelid) LIKE '%(device_id, metric, ts DESC)')")]


def compression_settings(dsn: str) -> tuple[str, str]:
    [(segmentby, orderby)] = query(
        dsn, "SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings"
             " WHERE hypertable = 'telemetry'::regclass")
    return segmentby, orderby


def job(dsn: str, proc_name: str) -> tuple[int, dict[str, Any]]:
    """(job id, config) of the telemetry hypertable's policy of that kind."""
    [(job_id, config)] = query(dsn, "SELECT job_id, config FROM timescaledb_information.jobs "
                                    "WHERE proc_name = %s AND hypertable_name = 'telemetry'",
                               (proc_name,))
    return int(job_id), dict(config)


def run_job(dsn: str, proc_name: str) -> None:
    """Run a telemetry policy's job now, in this session, as the scheduler would."""
    execute(dsn, "CALL run_job(%s)", (job(dsn, proc_name)[0],))


def scheduler_running(dsn: str) -> bool:
    """Whether TimescaleDB's job scheduler is connected to this database."""
    return count(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                      " AND backend_type = 'TimescaleDB Background Worker Scheduler'") == 1


async def until(what: str, check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(0.2)


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
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch, telemetry_storage: str,
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
    if telemetry_storage == TIMESCALE:
        # Compressed, as chunks in the field are after a week: 0003 must take them apart to
        # build its unique index, and turn compression back on afterwards.
        execute(empty_database_url, "SELECT compress_chunk(c) FROM show_chunks('telemetry') c")
        assert [compressed for *_, compressed in chunks(empty_database_url)] == [True, True]

    # [0]: later migrations (0004 tickets, 0005 cases, ...) follow; this test is about 0003.
    assert (await apply_migrations(empty_database_url))[0] == "0003_telemetry_unique"

    assert count(empty_database_url, "SELECT count(*) FROM telemetry") == 4
    if telemetry_storage == TIMESCALE:
        assert [compressed for *_, compressed in chunks(empty_database_url)] == [False, False]
        assert compression_settings(empty_database_url) == ("device_id,metric", "ts DESC")
        assert job(empty_database_url, "policy_compression")[1]["compress_after"] == "7 days"
        assert chunks_without_the_unique_index(empty_database_url) == []
    else:
        assert count(empty_database_url, "SELECT count(*) FROM telemetry_default") == 1
    async with PostgresStore.connect(empty_database_url) as store:
        [bucket] = await store.telemetry_series("kiosk-1", "temperature_c", BASE, BASE + DAY, 60)
        assert (bucket.count, bucket.min, bucket.max) == (2, 40.0, 41.0)  # the first 40.0 kept
        # From now on a redelivery is skipped.
        await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE,
                                                              temperature_c=40.0)))
        [bucket] = await store.telemetry_series("kiosk-1", "temperature_c", BASE, BASE + DAY, 60)
        assert bucket.count == 2


async def test_native_partitioning_can_be_chosen_by_the_migrating_session(
    empty_database_url: str,
) -> None:
    # Even where TimescaleDB is preloaded (make test-timescale): the choice is the owner's.
    chosen = make_conninfo(empty_database_url, options="-c hall.telemetry_storage=partitioned")

    await apply_migrations(chosen)

    async with PostgresStore.connect(empty_database_url) as store:
        assert await store.telemetry_storage() == "partitioned"
    assert count(empty_database_url, "SELECT count(*) FROM pg_extension "
                                     "WHERE extname = 'timescaledb'") == 0


async def test_an_unknown_telemetry_storage_choice_is_refused(empty_database_url: str) -> None:
    chosen = make_conninfo(empty_database_url, options="-c hall.telemetry_storage=timescale")

    with pytest.raises(migrate.MigrationError,
                       match=r"hall.telemetry_storage = 'timescale': expected 'partitioned'"):
        await apply_migrations(chosen)

    assert query(empty_database_url, "SELECT version FROM schema_migrations") == [(1,)]


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
    store: PostgresStore, database_url: str, telemetry_storage: str,
) -> None:
    today = now_ms()
    ahead = today + 30 * DAY  # native: no partition yet, lands in the default partition
    await store.commit_batch(IngestBatch(telemetry=points("door-1", ahead, battery_pct=77)))
    indexes = {r[0] for r in query(database_url, "SELECT indexname FROM pg_indexes "
                                                 "WHERE tablename = 'telemetry'")}
    if telemetry_storage == TIMESCALE:
        # Chunks are made as rows arrive; each gets the hypertable's indexes.
        for day in range(3):
            await store.commit_batch(IngestBatch(telemetry=points("door-1", today + day * DAY,
                                                                  battery_pct=70 + day)))
        assert len(chunks(database_url)) == 4
        assert chunks_without_the_unique_index(database_url) == []
        # The old non-unique index (same columns) is gone; the other is TimescaleDB's own
        # index on the time column, which create_hypertable makes.
        assert indexes == {"telemetry_sample", "telemetry_ts_idx"}
        return
    await store.maintain(today, days_ahead=10)  # partitions made after the migration
    await store.maintain(ahead, days_ahead=0)  # one made with rows moved in from the default

    names, covered = unique_index_coverage(database_url)
    assert "telemetry_default" in names
    assert day_name(today + 10 * DAY) in names
    assert day_name(ahead) in names
    assert covered == names
    # The old non-unique index (same columns) is gone: one index to maintain, not two.
    assert indexes == {"telemetry_sample"}


async def test_a_redelivered_sample_is_skipped_before_and_after_its_storage_changes(
    store: PostgresStore, database_url: str, telemetry_storage: str,
) -> None:
    # Natively: a sample kept in the default partition, then moved to its day's partition.
    # On TimescaleDB: a sample in a chunk, then in the same chunk compressed.
    far = int(datetime(2999, 6, 1, 12, tzinfo=UTC).timestamp() * 1000)  # a clock gone wrong
    sample = IngestBatch(telemetry=points("door-1", far, battery_pct=77))
    await store.commit_batch(sample)
    await store.commit_batch(sample)
    assert count(database_url, "SELECT count(*) FROM telemetry") == 1

    if telemetry_storage == TIMESCALE:
        chunk = chunk_holding(database_url, far)
        assert chunk is not None
        execute(database_url, "SELECT compress_chunk(c) FROM show_chunks('telemetry') c")
        assert [compressed for *_, compressed in chunks(database_url)] == [True]
    else:
        assert count(database_url, "SELECT count(*) FROM telemetry_default") == 1
        report = await store.maintain(far)  # the day gets its partition; the row moves there
        assert report.moved_rows == 1
    await store.commit_batch(sample)

    assert count(database_url, "SELECT count(*) FROM telemetry") == 1
    [bucket] = await store.telemetry_series("door-1", "battery_pct", far - DAY, far + DAY, 60)
    assert (bucket.count, bucket.last) == (1, 77.0)
    if telemetry_storage != TIMESCALE:
        assert count(database_url, "SELECT count(*) FROM telemetry_default") == 0
        assert count(database_url, f"SELECT count(*) FROM {day_name(far)}") == 1


# -- partitions, chunks and retention ---------------------------------------------------------


async def test_telemetry_is_stored_by_day(
    store: PostgresStore, database_url: str, telemetry_storage: str,
) -> None:
    today = now_ms()
    if telemetry_storage == TIMESCALE:
        assert await store.telemetry_storage() == "timescaledb"
        assert query(database_url, "SELECT time_interval FROM timescaledb_information.dimensions "
                                   "WHERE hypertable_name = 'telemetry'") == [(timedelta(days=1),)]
        for ahead in range(4):
            await store.commit_batch(IngestBatch(telemetry=points(
                "kiosk-1", today + ahead * DAY, temperature_c=20 + ahead)))
        # TimescaleDB makes a chunk when a row needs one: maintenance makes none.
        assert (await store.maintain(today)).created == []
        spans = [(name, end - start) for name, start, end, _ in chunks(database_url)]
        assert [span for _, span in spans] == [timedelta(days=1)] * 4
        for ahead in range(4):
            assert chunk_holding(database_url, today + ahead * DAY) == spans[ahead][0]
        return
    await store.maintain(today)

    names = partitions(database_url)
    assert "telemetry_default" in names
    for ahead in range(4):
        assert day_name(today + ahead * DAY) in names
    assert await store.telemetry_storage() == "partitioned"


async def test_telemetry_older_than_the_retention_is_dropped(
    store: PostgresStore, database_url: str, telemetry_storage: str,
) -> None:
    today = now_ms()
    long_ago = today - 200 * DAY
    if telemetry_storage != TIMESCALE:
        await store.maintain(long_ago)  # as if the controller had run back then
    await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", long_ago, temperature_c=20)))

    report = await store.maintain(today, retention_days=60)

    if telemetry_storage == TIMESCALE:
        # Maintenance sets the policy; TimescaleDB's scheduler, running for this database,
        # drops the chunk when the policy's job runs (brought forward to now).
        assert report.retention_policy_set
        job_id, config = job(database_url, "policy_retention")
        assert config["drop_after"] == "60 days"
        assert chunk_holding(database_url, long_ago) is not None
        assert scheduler_running(database_url)
        execute(database_url, "SELECT alter_job(%s, next_start => now())", (job_id,))
        await until("the scheduler runs the retention policy",
                    lambda: chunk_holding(database_url, long_ago) is None)
    else:
        assert day_name(long_ago) in report.dropped
        assert day_name(long_ago) not in partitions(database_url)
    assert await store.telemetry_series("kiosk-1", "temperature_c", long_ago - DAY,
                                        long_ago + DAY, 3600) == []
    # A second run has nothing left to do.
    again = await store.maintain(today, retention_days=60)
    assert (again.created, again.dropped, again.retention_policy_set) == ([], [], False)


async def test_a_sample_far_outside_the_partitions_is_kept(
    store: PostgresStore, database_url: str, telemetry_storage: str,
) -> None:
    far = int(datetime(2999, 6, 1, 12, tzinfo=UTC).timestamp() * 1000)  # a clock gone wrong
    await store.commit_batch(IngestBatch(telemetry=points("door-1", far, battery_pct=77)))

    [bucket] = await store.telemetry_series("door-1", "battery_pct", far - DAY, far + DAY, 60)
    assert bucket.last == 77.0
    report = await store.maintain(far, retention_days=90)

    if telemetry_storage == TIMESCALE:
        # Its own chunk, like any day's; maintenance leaves it alone.
        assert chunk_holding(database_url, far) is not None
        assert (report.created, report.dropped) == ([], [])
    else:
        # Kept in the default partition; once that day gets its partition, the row moves
        # there rather than blocking it.
        assert day_name(far) in report.created
        assert report.moved_rows == 1
        assert count(database_url, "SELECT count(*) FROM telemetry_default") == 0
    [bucket] = await store.telemetry_series("door-1", "battery_pct", far - DAY, far + DAY, 60)
    assert bucket.count == 1


async def test_maintenance_while_ingesting_loses_nothing(
    store: PostgresStore, database_url: str, telemetry_storage: str,
) -> None:
    # Samples of a day without a partition (a device clock days behind) keep arriving while
    # maintenance creates that day's partition and moves the day's rows into it. On
    # TimescaleDB, while its scheduler runs every telemetry job (the aggregate's refresh
    # among them, over the rows arriving) and charts are read (each refreshing the range).
    behind = now_ms() - 5 * DAY
    stop = asyncio.Event()
    if telemetry_storage == TIMESCALE:
        assert scheduler_running(database_url)
        execute(database_url, "SELECT alter_job(job_id, next_start => now()) "
                              "FROM timescaledb_information.jobs "
                              "WHERE hypertable_name IS NOT NULL")

    async def ingest() -> None:
        for i in range(40):
            await store.commit_batch(IngestBatch(telemetry=[
                TelemetryPoint(f"door-{n}", behind + i, "battery_pct", n) for n in range(100)]))
        stop.set()

    async def maintain() -> None:
        while not stop.is_set():
            await store.maintain(now_ms())
            await store.telemetry_series("door-7", "battery_pct", behind - DAY, behind + DAY,
                                         3600)
            await asyncio.sleep(0.005)

    await asyncio.gather(ingest(), maintain())
    await store.maintain(now_ms())

    assert count(database_url, "SELECT count(*) FROM telemetry") == 4000
    [bucket] = await store.telemetry_series("door-7", "battery_pct", behind - DAY, behind + DAY,
                                            3600)
    assert (bucket.count, bucket.min, bucket.max) == (40, 7.0, 7.0)
    if telemetry_storage == TIMESCALE:
        assert chunk_holding(database_url, behind) is not None
        errors = {r[0] for r in query(database_url, "SELECT err_message "
                                                    "FROM timescaledb_information.job_errors")}
        assert errors <= {KNOWN_JOB_ERROR}, errors
    else:
        assert count(database_url, "SELECT count(*) FROM telemetry_default") == 0
        assert day_name(behind) in partitions(database_url)


async def test_maintain_prunes_old_rows_and_dead_letters(
    store: PostgresStore, database_url: str, telemetry_storage: str,
) -> None:
    ancient = now_ms() - 400 * DAY  # native: before any partition, in the default partition
    await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", ancient, x=1)))
    await store.commit_batch(IngestBatch(dead_letters=[dead_letter(ancient, "old: x"),
                                                       dead_letter(now_ms(), "new: y")]))

    report = await store.maintain(now_ms(), retention_days=90)

    assert report.pruned_dead_letters == 1
    assert [d.reason for d in await store.list_dead_letters()] == ["new: y"]
    if telemetry_storage == TIMESCALE:
        # TimescaleDB drops whole chunks, in its retention policy's job (run here at once).
        assert report.pruned_rows == 0
        run_job(database_url, "policy_retention")
    else:
        assert report.pruned_rows == 1
    assert count(database_url, "SELECT count(*) FROM telemetry") == 0


async def test_retention_follows_the_configured_days(
    database_url: str, telemetry_storage: str,
) -> None:
    now = now_ms()
    days = {"dropped": now - 40 * DAY, "kept": now - 20 * DAY, "recent": now - DAY}
    # As hall/assembly.py builds it, from database.telemetry_retention_days.
    async with PostgresStore.connect(database_url, retention_days=30) as store:
        if telemetry_storage != TIMESCALE:
            for at in (days["dropped"], days["kept"]):
                await store.maintain(at, days_ahead=0)  # as if the controller had run then
        for at in days.values():
            await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", at, x=1)))

        report = await store.maintain(now)

        if telemetry_storage == TIMESCALE:
            assert report.retention_policy_set
            assert job(database_url, "policy_retention")[1]["drop_after"] == "30 days"
            # Compression: as the migration set it (7 days; not configurable).
            assert job(database_url, "policy_compression")[1]["compress_after"] == "7 days"
            run_job(database_url, "policy_compression")
            run_job(database_url, "policy_retention")
            assert chunk_holding(database_url, days["dropped"]) is None
            state = {name: compressed for name, *_, compressed in chunks(database_url)}
            assert state == {chunk_holding(database_url, days["kept"]): True,
                             chunk_holding(database_url, days["recent"]): False}
            # A compressed chunk still answers, and still skips a redelivered sample.
            await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", days["kept"], x=1)))
        else:
            assert report.dropped == [day_name(days["dropped"])]
        assert count(database_url, "SELECT count(*) FROM telemetry") == 2
        for name, at in days.items():
            series = await store.telemetry_series("kiosk-1", "x", at - DAY, at + DAY, 3600)
            assert len(series) == (0 if name == "dropped" else 1), name


# -- bucketed queries -------------------------------------------------------------------------


def expected_series(samples: list[TelemetryPoint], metric: str, from_ms: int, to_ms: int,
                    bucket_s: int) -> list[TelemetryBucket]:
    """What telemetry_series must answer, worked out here from the samples themselves."""
    width = bucket_s * 1000
    buckets: dict[int, list[TelemetryPoint]] = {}
    for p in sorted(samples, key=lambda p: p.ts_ms):
        if p.metric == metric and from_ms <= p.ts_ms < to_ms:
            buckets.setdefault(p.ts_ms // width * width, []).append(p)
    result = []
    for start, members in sorted(buckets.items()):
        numbers = [float(p.value) for p in members
                   if isinstance(p.value, int | float) and not isinstance(p.value, bool)]
        last = members[-1].value
        result.append(TelemetryBucket(
            start, len(members), sum(numbers) / len(numbers) if numbers else None,
            min(numbers, default=None), max(numbers, default=None),
            float(last) if isinstance(last, int) and not isinstance(last, bool) else last))
    return result


def plan(dsn: str, name: str, params: dict[str, object]) -> str:
    """The plan PostgreSQL makes for the named query with these parameters."""
    return "\n".join(r[0] for r in query(dsn, "EXPLAIN " + QUERIES[name], params))


async def test_bucketed_queries_read_only_what_the_range_needs(
    store: PostgresStore, database_url: str, telemetry_storage: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ten minutes of a kiosk: a number, a text and a flag three times a minute.
    samples = [
        TelemetryPoint("kiosk-1", BASE + minute * MINUTE + second * 1000, metric, value)
        for minute in range(10) for second in (5, 25, 45)
        for metric, value in (("temperature_c", minute * 10 + second / 5),
                              ("mode", f"m{minute}s{second}"), ("door_closed", second != 45))
    ]
    await store.maintain(BASE, days_ahead=0)  # native: BASE's day has its partition
    await store.commit_batch(IngestBatch(telemetry=samples))
    ranges = [(BASE, BASE + 10 * MINUTE, 60), (BASE, BASE + 10 * MINUTE, 300),
              (BASE - HOUR, BASE + HOUR, 3600),
              (BASE + 30_000, BASE + 9 * MINUTE + 30_000, 120)]  # part-minutes at both ends
    params: dict[str, object] = {  # BASE is on the hour: these ten minutes are one day's
        "device_id": "kiosk-1", "metric": "temperature_c", "from_ms": BASE,
        "to_ms": BASE + 10 * MINUTE, "bucket_s": 60, "inner_from_ms": BASE,
        "inner_to_ms": BASE + 10 * MINUTE}

    if telemetry_storage == TIMESCALE:
        # Served from the minute aggregate, once its policy has materialized it (done here
        # at once): the plan reads its materialized hypertable, and the store no longer
        # touches the raw-telemetry query for buckets of whole minutes.
        execute(database_url, "CALL refresh_continuous_aggregate('telemetry_1m', NULL, "
                              "now() - interval '1 minute')")
        [(materialized,)] = query(database_url,
                                  "SELECT materialization_hypertable_name "
                                  "FROM timescaledb_information.continuous_aggregates "
                                  "WHERE view_name = 'telemetry_1m'")
        materialized_chunks = {r[0] for r in query(
            database_url, "SELECT chunk_name FROM timescaledb_information.chunks "
                          "WHERE hypertable_name = %s", (materialized,))}
        read = set(re.findall(r"_hyper_\d+_\d+_chunk", plan(
            database_url, "telemetry_series_1m", params)))
        assert read and read <= materialized_chunks, (read, materialized_chunks)
        monkeypatch.setitem(QUERIES, "telemetry_series", "SELECT 1 / 0")
        # A late sample in a minute already materialized (an edge agent's outbox after an
        # outage) is in the next answer.
        late = TelemetryPoint("kiosk-1", BASE + 3 * MINUTE + 1, "temperature_c", 1000.0)
        await store.commit_batch(IngestBatch(telemetry=[late]))
        samples.append(late)
    else:
        # Partition pruning: only the partition of the range's day is read.
        read = set(re.findall(r"telemetry_(?:p\d{8}|default)", plan(
            database_url, "telemetry_series", params)))
        assert read == {day_name(BASE)}

    for metric in ("temperature_c", "mode", "door_closed"):
        for from_ms, to_ms, bucket_s in ranges:
            got = await store.telemetry_series("kiosk-1", metric, from_ms, to_ms, bucket_s)
            want = expected_series(samples, metric, from_ms, to_ms, bucket_s)
            assert [(b.bucket_start_ms, b.count, b.min, b.max, b.last) for b in got] == [
                (b.bucket_start_ms, b.count, b.min, b.max, b.last) for b in want], (
                metric, from_ms - BASE, to_ms - BASE, bucket_s)
            assert [b.avg is None for b in got] == [b.avg is None for b in want]
            assert [b.avg for b in got if b.avg is not None] == pytest.approx(
                [b.avg for b in want if b.avg is not None])


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
