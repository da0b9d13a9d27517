"""Database fixtures: a fresh, migrated database per test, cloned from a template.

The server is the machine's PostgreSQL (``HALL_TEST_DATABASE_URL``, default
postgresql://postgres@127.0.0.1:5432/postgres), or an embedded pgserver started for the session
when ``HALL_TEST_EMBEDDED=1``. Migrations run once per session into a template database; each
test then gets ``CREATE DATABASE ... TEMPLATE`` (a file copy: milliseconds, and fully isolated)
that is dropped afterwards. Every name carries a random suffix, so test runs sharing a server
(other engineers', CI jobs) never meet. A server that cannot be reached fails the tests.
On a TimescaleDB server (``make test-timescale``) the template is closed to connections (its
job scheduler would otherwise block the cloning) and each test database gets its scheduler at
once, as a migrated database has in production.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from psycopg.conninfo import make_conninfo

from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.fleet.queries import QUERIES
from hall_controller.kernel.postgres.embedded import embedded_postgres
from hall_controller.kernel.postgres.migrate import apply_migrations
from tests.support.hall_store import PostgresHallStore

EMBEDDED = os.environ.get("HALL_TEST_EMBEDDED") == "1"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def dsn_for_database(server_dsn: str, dbname: str) -> str:
    """The server DSN pointed at another database of the same server."""
    return make_conninfo(server_dsn, dbname=dbname)


def admin(server_dsn: str, statement: sql.Composed) -> None:
    """Run one statement (CREATE/DROP DATABASE) outside a transaction."""
    with psycopg.connect(server_dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement)


def create_database(server_dsn: str, prefix: str, template: str | None = None) -> str:
    """Create a database with a unique name; returns the name."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template))
    admin(server_dsn, statement)
    return name


def close_to_connections(server_dsn: str, name: str) -> None:
    """Let nobody connect to this database any more, and end the sessions already in it.

    ``CREATE DATABASE ... TEMPLATE`` refuses while anyone is connected to the template. On a
    TimescaleDB server with background workers on, its job scheduler connects to every
    database that has the extension, a freshly migrated template included, and stays. The
    scheduler launcher passes over databases that do not allow connections, so once this is
    done it neither stays nor comes back (ending it alone would not do: it would come back).
    """
    with psycopg.connect(server_dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
            sql.Identifier(name)))
        # With a timeout, pg_terminate_backend waits for the session to be gone.
        conn.execute("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


def drop_database(server_dsn: str, name: str) -> None:
    # FORCE: a test that failed half-way may leave a pool connected.
    admin(server_dsn, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
        sql.Identifier(name)))


@contextlib.contextmanager
def private_pg_dir() -> Iterator[Path]:
    """A data folder for an embedded PostgreSQL outside pytest's temp tree.

    pgserver runs the server as an unprivileged user and opens the folder's parents for it;
    any other pytest run on the machine resets /tmp/pytest-of-<user> to mode 0700 when it
    starts, which cuts a running server off its own files (PANIC, "Permission denied").
    """
    path = Path(tempfile.mkdtemp(prefix="hall-test-pg-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _check_reachable(server_dsn: str, where: str) -> None:
    try:
        with psycopg.connect(server_dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.fail(
            f"the test PostgreSQL ({where}: {server_dsn}) cannot be reached: {exc}\n"
            "Start it, point HALL_TEST_DATABASE_URL at one, or set HALL_TEST_EMBEDDED=1.",
            pytrace=False,
        )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A DSN for the test server's maintenance database (for CREATE/DROP DATABASE)."""
    if EMBEDDED:
        with private_pg_dir() as data_dir:
            async with embedded_postgres(data_dir) as dsn:
                _check_reachable(dsn, "embedded pgserver")
                yield dsn
        return
    dsn = os.environ.get("HALL_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    _check_reachable(dsn, "HALL_TEST_DATABASE_URL" if "HALL_TEST_DATABASE_URL" in os.environ
                     else "default")
    yield dsn


@dataclass(frozen=True, slots=True)
class MigratedTemplate:
    """The session's migrated template database, and what its migrations chose."""

    name: str
    telemetry_storage: str  # "timescaledb" or "partitioned" (as PostgresStore says)


def read_telemetry_storage(dsn: str) -> str:
    """How this migrated database stores telemetry: "timescaledb" or "partitioned"."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(QUERIES["telemetry_storage"]).fetchone()
    assert row is not None
    return str(row[0])


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def migrated_template(pg_server_url: str) -> AsyncIterator[MigratedTemplate]:
    """A database migrated once for the whole session, to clone per test."""
    name = create_database(pg_server_url, "hall_tpl")
    try:
        dsn = dsn_for_database(pg_server_url, name)
        await apply_migrations(dsn)
        storage = read_telemetry_storage(dsn)
        if os.environ.get("HALL_TEST_EXPECT_TIMESCALE") == "1" and storage != "timescaledb":
            # make test-timescale against a server without TimescaleDB preloaded would pass
            # on the native assertions and test nothing of TimescaleDB.
            pytest.fail(f"HALL_TEST_DATABASE_URL ({pg_server_url}) is not a server with "
                        f"TimescaleDB preloaded: telemetry was stored as {storage!r}",
                        pytrace=False)
        close_to_connections(pg_server_url, name)
        yield MigratedTemplate(name, storage)
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture
def template_database(migrated_template: MigratedTemplate) -> str:
    """The name of the session's migrated template database."""
    return migrated_template.name


@pytest.fixture
def telemetry_storage(migrated_template: MigratedTemplate) -> str:
    """What the test server's migrations chose for telemetry: "timescaledb" on a server with
    TimescaleDB preloaded, "partitioned" (native) on any other. Tests of storage pick their
    assertions by it, so the suite checks whichever kind of server it runs against."""
    return migrated_template.telemetry_storage


def start_timescale_scheduler(dsn: str) -> None:
    """Start TimescaleDB's job scheduler for this database now.

    A database that runs CREATE EXTENSION gets its scheduler at once; one cloned from a
    template is found by the scheduler launcher only at its next poll
    (timescaledb.bgw_launcher_poll_time, a minute by default). Starting it here gives each
    test what a migrated database in production has: its jobs (refresh, compression,
    retention policies) running in the background from the start.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT _timescaledb_functions.start_background_workers()")


@pytest.fixture
def database_url(pg_server_url: str, migrated_template: MigratedTemplate) -> Iterator[str]:
    """A DSN for a fresh, fully migrated database of this test's own."""
    name = create_database(pg_server_url, "hall_test", template=migrated_template.name)
    try:
        dsn = dsn_for_database(pg_server_url, name)
        if migrated_template.telemetry_storage == "timescaledb":
            start_timescale_scheduler(dsn)
        yield dsn
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture
def empty_database_url(pg_server_url: str) -> Iterator[str]:
    """A DSN for a fresh database without any migration (to test migrating)."""
    name = create_database(pg_server_url, "hall_empty")
    try:
        yield dsn_for_database(pg_server_url, name)
    finally:
        drop_database(pg_server_url, name)


@pytest_asyncio.fixture
async def store(database_url: str) -> AsyncIterator[PostgresStore]:
    """A PostgresStore connected to this test's fresh database."""
    async with PostgresStore.connect(database_url, min_size=1, max_size=4) as connected:
        yield connected


@pytest_asyncio.fixture
async def hall_store(database_url: str) -> AsyncIterator[PostgresHallStore]:
    """Every store port, tickets included, over one pool on the test's database."""
    async with PostgresHallStore.connect(database_url, min_size=2, max_size=8) as opened:
        assert isinstance(opened, PostgresHallStore)
        yield opened
