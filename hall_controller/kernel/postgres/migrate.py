"""Schema migrations: plain SQL files applied in order, each recorded in ``schema_migrations``.

Files live in ``migrations/`` and are named ``NNNN_description.sql``; NNNN is the version.
Each runs in its own transaction together with the row that records it, so a migration is
either wholly applied and recorded or not at all. A session advisory lock serialises
controllers that start at the same moment: the second waits, then finds nothing left to do.
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from hall_controller.kernel.errors import HallError, StoreUnavailable

logger = logging.getLogger(__name__)

MIGRATIONS_LOCK_KEY = 7305001
"""The advisory lock key held while migrating (advisory locks are per database)."""

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(HallError):
    """A migration file is malformed or failed to apply (the message names it)."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str  # the file name without ".sql", e.g. "0001_core"
    sql: str


def load_migrations() -> list[Migration]:
    """The packaged migrations, in version order."""
    folder = resources.files(__package__ or "hall_controller.kernel.postgres") / "migrations"
    migrations: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r}: expected NNNN_name.sql")
        migrations.append(Migration(int(match[1]), entry.name.removesuffix(".sql"),
                                    entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda m: m.version)
    for before, after in itertools.pairwise(migrations):
        if before.version == after.version:
            raise MigrationError(f"migrations {before.name} and {after.name} share a version")
    return migrations


async def apply_migrations(dsn: str) -> list[str]:
    """Apply the migrations this database has not seen yet; returns their names in order.

    Raises StoreUnavailable if the database cannot be reached, MigrationError if a migration
    fails (that migration is rolled back; the ones before it stay applied).
    """
    migrations = load_migrations()
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"cannot connect to the database to migrate it: {exc}") from exc
    # The advisory lock is a session lock: closing the connection releases it, whatever
    # happened, so there is no unlock to forget on an error path.
    async with conn:
        try:
            await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATIONS_LOCK_KEY,))
            await conn.execute(_CREATE_TABLE)
            cur = await conn.execute("SELECT version FROM schema_migrations")
            applied_versions = {row[0] for row in await cur.fetchall()}
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"database unavailable while migrating: {exc}") from exc

        known = {m.version for m in migrations}
        unknown = sorted(applied_versions - known)
        if unknown:
            logger.warning("database has migrations this code does not know: %s (newer code "
                           "ran against it?)", unknown)

        applied: list[str] = []
        for migration in migrations:
            if migration.version in applied_versions:
                continue
            logger.info("applying migration %s", migration.name)
            try:
                async with conn.transaction():
                    # No parameters: psycopg sends the file as a simple query, so it may hold
                    # many statements, dollar-quoted bodies and literal % signs.
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name))
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(
                    f"database unavailable while applying {migration.name}: {exc}") from exc
            except psycopg.Error as exc:
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
            applied.append(migration.name)
        return applied
