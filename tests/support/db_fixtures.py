"""Database fixtures: a fresh, migrated database per test, cloned from a template.

The server is the machine's PostgreSQL (``HALL_TEST_DATABASE_URL``, default
postgresql://postgres@127.0.0.1:5432/postgres), or an embedded pgserver started for the session
when ``HALL_TEST_EMBEDDED=1``. Migrations run once per session into a template database; each
test then gets ``CREATE DATABASE ... TEMPLATE`` (a file copy: milliseconds, and fully isolated)
that is dropped afterwards. Every name carries a random suffix, so test runs sharing a server
(other engineers', CI jobs) never meet. A server that cannot be reached fails the tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from psycopg.conninfo import make_conninfo

from hall_controller.adapters.postgres.embedded import embedded_postgres
from hall_controller.adapters.postgres.migrate import apply_migrations
from hall_controller.adapters.postgres.store import PostgresStore
from hall_controller.adapters.postgres.ticket_store import PostgresHallStore

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


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def template_database(pg_server_url: str) -> AsyncIterator[str]:
    """The name of a database migrated once for the whole session, to clone per test."""
    name = create_database(pg_server_url, "hall_tpl")
    try:
        await apply_migrations(dsn_for_database(pg_server_url, name))
        yield name
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture
def database_url(pg_server_url: str, template_database: str) -> Iterator[str]:
    """A DSN for a fresh, fully migrated database of this test's own."""
    name = create_database(pg_server_url, "hall_test", template=template_database)
    try:
        yield dsn_for_database(pg_server_url, name)
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
