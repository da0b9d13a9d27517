"""The embedded PostgreSQL (pgserver) that ``hall demo`` uses when no database is configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import psycopg
import pytest

from hall_controller.fleet.model import IngestBatch, Role, User
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.kernel.errors import StoreUnavailable
from hall_controller.kernel.postgres.embedded import embedded_postgres
from hall_controller.kernel.postgres.migrate import apply_migrations, load_migrations
from hall_controller.users.postgres_store import PostgresUserStore
from tests.support.db_fixtures import private_pg_dir
from tests.support.store_contract import BASE, event, points
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    with private_pg_dir() as path:
        yield path


async def test_embedded_postgres_starts_migrates_and_keeps_data_across_restarts(
    pg_dir: Path,
) -> None:
    opened = event("door-1", BASE)
    ada = User("ada", "$argon2id$v=19$x", Role.ADMIN)

    async with embedded_postgres(pg_dir) as dsn:
        assert await apply_migrations(dsn) == [m.name for m in load_migrations()]
        async with PostgresStore.connect(dsn) as store:
            await PostgresUserStore(store.pool).upsert_user(ada)
            assert await store.commit_batch(IngestBatch(
                telemetry=points("door-1", BASE, battery_pct=88), events=[opened],
            )) == {opened.event_id}

    assert (pg_dir / "pg" / "PG_VERSION").is_file()
    with pytest.raises(psycopg.OperationalError):  # stopped: nothing listens any more
        await psycopg.AsyncConnection.connect(dsn, connect_timeout=2)

    async with embedded_postgres(pg_dir) as dsn:
        assert await apply_migrations(dsn) == []
        async with PostgresStore.connect(dsn) as store:
            assert await PostgresUserStore(store.pool).get_user("ada") == ada
            assert [e["event_id"] for e in await store.list_events(None, 10)] == [
                opened.event_id]
            # The redelivered event is still recognised after the restart.
            assert await store.commit_batch(IngestBatch(events=[opened])) == set()


async def test_the_store_is_unavailable_while_the_server_is_down_and_recovers(
    pg_dir: Path,
) -> None:
    server: AbstractAsyncContextManager[str] | None = embedded_postgres(pg_dir)
    assert server is not None
    dsn = await server.__aenter__()
    try:
        await apply_migrations(dsn)
        async with PostgresStore.connect(dsn, timeout_s=2) as store:
            await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE, x=1)))
            await server.__aexit__(None, None, None)
            server = None

            with pytest.raises(StoreUnavailable):
                await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE + 1, x=2)))
            assert await store.ping() is False

            server = embedded_postgres(pg_dir)
            assert await server.__aenter__() == dsn
            # The pool replaces its broken connections; a caller retrying (as the ingest
            # service does) gets through once the server is back.
            async def committed() -> bool:
                try:
                    await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE + 2,
                                                                          x=3)))
                except StoreUnavailable:
                    return False
                return True
            await eventually(committed, timeout_s=30, what="a commit once the server is back",
                             interval_s=0.2)
            assert await store.ping() is True
            [bucket] = await store.telemetry_series("kiosk-1", "x", BASE, BASE + 60_000, 60)
            assert bucket.count == 2  # the sample refused during the outage was not stored
    finally:
        if server is not None:
            await server.__aexit__(None, None, None)
