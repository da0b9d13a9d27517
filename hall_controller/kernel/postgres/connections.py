"""The one set of pool helpers every PostgreSQL store uses: opening a pool, borrowing a
connection, a dict cursor (autocommit or in one transaction), and fetching rows.

psycopg's connection-level errors (``OperationalError``, ``InterfaceError``; the pool's
``PoolTimeout`` is one) are translated at this boundary into ``StoreUnavailable``: the
database cannot do work right now, and the caller may retry. Errors about the data itself
(``DataError``, ``IntegrityError``, ...) pass through unchanged: retrying them would fail the
same way, and each store decides what they mean (a duplicate key is usually ``Conflict``).

The pool's connections are autocommit: a statement outside ``transaction`` is its own
transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from hall_controller.kernel.errors import StoreUnavailable

Row = dict[str, Any]
Query = str | sql.Composed
Params = Mapping[str, Any] | tuple[Any, ...] | None


@asynccontextmanager
async def open_pool(dsn: str, *, name: str, application_name: str, min_size: int,
                    max_size: int, timeout_s: float) -> AsyncIterator[AsyncConnectionPool]:
    """A pool of ``min_size``..``max_size`` autocommit connections to ``dsn``, closed when
    the context exits.

    ``timeout_s`` bounds both the first connection (StoreUnavailable if the database cannot
    be reached by then) and, later, how long a call waits for a free or re-established
    connection before raising StoreUnavailable.
    """
    pool = AsyncConnectionPool(
        dsn, min_size=min_size, max_size=max_size, open=False, timeout=timeout_s, name=name,
        kwargs={"autocommit": True, "application_name": application_name},
        # One cheap round trip per checkout, so a connection broken by a database restart
        # is replaced instead of failing the caller's first statement.
        check=AsyncConnectionPool.check_connection,
        # While the database is down the pool retries with doubling delays until this
        # runs out, then starts afresh at the next request. The default (300 s) lets the
        # delay reach two minutes: that long a wait after the database is back, with
        # ingest stalled. 30 s keeps it under about 15 s.
        reconnect_timeout=30.0,
    )
    try:
        await pool.open(wait=True, timeout=timeout_s)
    except psycopg.OperationalError as exc:  # PoolTimeout is one
        await pool.close()
        raise StoreUnavailable(
            f"cannot connect to the database within {timeout_s:g} s: {exc}") from exc
    try:
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def connection(pool: AsyncConnectionPool, what: str
                     ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A pooled connection; ``what`` names the work in the StoreUnavailable message."""
    try:
        async with pool.connection() as conn:
            yield conn
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # PoolTimeout is one
        raise StoreUnavailable(f"{what}: {exc}") from exc


@asynccontextmanager
async def dict_cursor(pool: AsyncConnectionPool, what: str
                      ) -> AsyncIterator[psycopg.AsyncCursor[Row]]:
    """A cursor returning rows as dicts, on a pooled connection (autocommit: each statement
    is its own transaction)."""
    async with connection(pool, what) as conn, conn.cursor(row_factory=dict_row) as cur:
        yield cur


@asynccontextmanager
async def transaction(pool: AsyncConnectionPool, what: str, *, repeatable_read: bool = False
                      ) -> AsyncIterator[psycopg.AsyncCursor[Row]]:
    """A dict cursor inside one transaction, committed when the context exits without an
    error. ``repeatable_read``: every statement sees the same snapshot of the database."""
    async with connection(pool, what) as conn, conn.transaction(), \
            conn.cursor(row_factory=dict_row) as cur:
        if repeatable_read:
            await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield cur


async def fetch_all(pool: AsyncConnectionPool, what: str, query: Query,
                    params: Params = None) -> list[Row]:
    """Run one statement and return its rows as dicts (none for a statement without a result,
    such as an UPDATE without RETURNING)."""
    async with dict_cursor(pool, what) as cur:
        await cur.execute(query, params)
        return await cur.fetchall() if cur.description else []


async def fetch_one(pool: AsyncConnectionPool, what: str, query: Query,
                    params: Params = None) -> Row | None:
    """The first row of one statement, or None."""
    rows = await fetch_all(pool, what, query, params)
    return rows[0] if rows else None


async def execute(pool: AsyncConnectionPool, what: str, query: Query,
                  params: Params = None) -> int:
    """Run one statement; returns how many rows it touched (psycopg's ``rowcount``)."""
    async with connection(pool, what) as conn:
        cur = await conn.execute(query, params)
        return cur.rowcount
