"""Borrowing a connection from the shared pool, with psycopg's connection-level errors
translated at this boundary into ``StoreUnavailable`` (the caller may retry).

Errors about the data itself (``DataError``, ``IntegrityError``, ...) pass through unchanged:
retrying them would fail the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from hall_controller.kernel.errors import StoreUnavailable

Row = dict[str, Any]


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
    """A cursor returning rows as dicts, on a pooled connection (one transaction)."""
    async with connection(pool, what) as conn, conn.cursor(row_factory=dict_row) as cur:
        yield cur
