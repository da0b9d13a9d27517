"""A PostgreSQL server with TimescaleDB installed but not in shared_preload_libraries: the
state right after ``apt install``, before postgresql.conf is edited.

Creating the extension there ends the session with a FATAL error that no EXCEPTION block can
catch, so migration 0002 checks first and refuses, naming the setting and the commands (see
docs/deployment.md for why it refuses rather than falling back to native partitioning). These
tests need such a server: ``HALL_TEST_TIMESCALE_NOT_PRELOADED_URL``, given by
``make test-timescale`` (docs/deployment.md says how to start one next to the preloaded one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from hall_controller.fleet.model import IngestBatch
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.kernel.postgres.migrate import MigrationError, apply_migrations
from tests.support.db_fixtures import (
    admin,
    create_database,
    drop_database,
    dsn_for_database,
    read_telemetry_storage,
)
from tests.support.store_contract import BASE, points

pytestmark = pytest.mark.integration

HALL = [sys.executable, "-m", "hall.cli"]
ENV_NAME = "HALL_TEST_TIMESCALE_NOT_PRELOADED_URL"


@pytest.fixture(scope="module")
def server_url() -> str:
    """The maintenance DSN of a server with TimescaleDB installed and not preloaded."""
    dsn = os.environ.get(ENV_NAME)
    if not dsn:
        pytest.fail(f"{ENV_NAME} is not set: these tests need a PostgreSQL with TimescaleDB "
                    "installed but not preloaded (docs/deployment.md, make test-timescale)",
                    pytrace=False)
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        available = conn.execute("SELECT count(*) FROM pg_available_extensions "
                                 "WHERE name = 'timescaledb'").fetchone()
        loaded = conn.execute("SELECT count(*) FROM pg_settings "
                              "WHERE name = 'timescaledb.max_background_workers'").fetchone()
    if available != (1,) or loaded != (0,):
        pytest.fail(f"{ENV_NAME} ({dsn}) is not a server with TimescaleDB installed and not "
                    f"preloaded (installed: {available == (1,)}, preloaded: {loaded != (0,)})",
                    pytrace=False)
    return dsn


@pytest.fixture
def database_url(server_url: str) -> Iterator[str]:
    name = create_database(server_url, "hall_unloaded")
    try:
        yield dsn_for_database(server_url, name)
    finally:
        drop_database(server_url, name)


def applied_versions(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def has_timescaledb(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_extension "
                           "WHERE extname = 'timescaledb'").fetchone()
    return row == (1,)


@pytest.mark.parametrize("command", [["db", "migrate"], ["controller"]])
def test_hall_refuses_to_migrate_naming_the_setting_and_the_fix(
    database_url: str, command: list[str],
) -> None:
    env = {**os.environ, "HALL_DATABASE_URL": database_url,
           "HALL_MQTT_URL": "mqtt://127.0.0.1:1", "HALL_ADMIN_PASSWORD": "not-used-here"}

    result = subprocess.run([*HALL, *command], env=env, capture_output=True, text=True,
                            timeout=120, check=False)

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert ("hall: migration 0002_telemetry failed: TimescaleDB is installed on this "
            "PostgreSQL server but not preloaded (shared_preload_libraries = ''" in output)
    # The fix, as a command to paste, and the way out for those who want no TimescaleDB.
    assert "ALTER SYSTEM SET shared_preload_libraries = 'timescaledb'" in output
    assert "restart PostgreSQL" in output
    assert "PGOPTIONS='-c hall.telemetry_storage=partitioned' hall db migrate" in output
    # Refused before CREATE EXTENSION: nothing of 0002 is left behind.
    assert applied_versions(database_url) == [1]
    assert not has_timescaledb(database_url)


async def test_each_attempt_is_refused_the_same_way_until_the_server_is_fixed(
    database_url: str,
) -> None:
    for _ in range(2):
        with pytest.raises(MigrationError, match="not preloaded") as refused:
            await apply_migrations(database_url)
        assert "shared_preload_libraries" in str(refused.value)
        assert applied_versions(database_url) == [1]


async def test_a_role_that_cannot_read_the_setting_is_told_to_add_to_its_list(
    server_url: str,
) -> None:
    # The usual production shape: the database belongs to an ordinary role, which may create
    # TimescaleDB (a trusted extension) but may not read shared_preload_libraries.
    role = f"hall_owner_{uuid.uuid4().hex[:8]}"
    admin(server_url, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    name = create_database(server_url, "hall_unloaded")
    try:
        admin(server_url, sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(name), sql.Identifier(role)))
        dsn = make_conninfo(dsn_for_database(server_url, name), user=role)

        with pytest.raises(MigrationError) as refused:
            await apply_migrations(dsn)

        message = str(refused.value)
        assert "(shared_preload_libraries = '<not readable by this role>')" in message
        assert ("ALTER SYSTEM SET shared_preload_libraries = '<the current list>, timescaledb'"
                in message)
        assert applied_versions(dsn) == [1]
    finally:
        drop_database(server_url, name)
        admin(server_url, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


async def test_native_partitioning_when_the_migrating_session_chooses_it(
    database_url: str,
) -> None:
    dsn = make_conninfo(database_url, options="-c hall.telemetry_storage=partitioned")

    applied = await apply_migrations(dsn)

    assert applied[:2] == ["0001_core", "0002_telemetry"]
    assert read_telemetry_storage(database_url) == "partitioned"
    assert not has_timescaledb(database_url)
    # Chosen once: later connections need not say it again.
    async with PostgresStore.connect(database_url) as store:
        await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE, x=1)))
        [bucket] = await store.telemetry_series("kiosk-1", "x", BASE, BASE + 60_000, 60)
        assert bucket.count == 1
