"""An embedded PostgreSQL server (PostgreSQL 16 from the ``pgserver`` wheel) for the demo and
for tests, so neither needs an installed database.

The server keeps its data in ``<data_dir>/pg`` between runs and listens only on a Unix socket
there (no TCP port), so it never collides with a PostgreSQL already on 5432. Run as root,
pgserver creates and uses a ``pgserver`` system user, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _import_pgserver() -> Any:
    # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (as under root or in
    # CI); pgserver only keeps a lock file there, so the fallback in /tmp is fine.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver  # heavy and optional: only when embedding
    return pgserver


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that no longer exist from pgserver's handle list.

    pgserver stops the server when the last process holding a handle lets go, judged by a
    list of pids in the data dir. A process killed without cleanup leaves its pid there, and
    then no later run would ever stop the server again.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start(pgserver: Any, pgdata: Path) -> Any:
    _forget_dead_handles(pgdata)
    return pgserver.get_server(pgdata, cleanup_mode="stop")


@contextlib.asynccontextmanager
async def embedded_postgres(data_dir: Path) -> AsyncIterator[str]:
    """Start (initialising on first use) PostgreSQL in ``data_dir/"pg"`` and yield a DSN for
    psycopg (``postgresql://postgres:@/postgres?host=<socket dir>``); stop the server on exit,
    keeping the data for the next run.

    One context per data dir per process at a time: pgserver shares one server per data dir
    within a process, and leaving the first context would stop it under the second.
    """
    pgserver = _import_pgserver()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pg").resolve()
    # pgserver's calls block (initdb, pg_ctl start/stop, waiting for readiness): off the loop.
    server = await asyncio.to_thread(_start, pgserver, pgdata)
    dsn: str = server.get_uri()
    logger.info("embedded PostgreSQL in %s, listening on %s", pgdata, dsn)
    try:
        yield dsn
    finally:
        await asyncio.to_thread(server.cleanup)
        logger.info("embedded PostgreSQL in %s stopped", pgdata)
