"""The pages' live feed: PostgreSQL ``LISTEN hall_live`` fanned out to in-process subscribers.

Migration 0009 makes the database ``pg_notify`` a small JSON notice on the channel
``hall_live`` when a ticket moves, a device's presence changes or an alarm changes. Because the
notices come from the database, a page served by one controller process sees the moves made
through any other one.

``PostgresLiveFeed`` owns one dedicated connection that listens, reconnects with jittered
backoff and publishes what it hears into a ``LiveHub`` (``hub.py``, the pure fan-out). After
every (re)connection it publishes a ``resync`` notice: notices sent while it was not listening
are lost, so pages re-read what they show.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from types import TracebackType

import psycopg

from devices.cancellation import raise_if_cancelled
from hall_controller.live.hub import RESYNC, LiveHub, LiveNotice, parse_notice

logger = logging.getLogger(__name__)

CHANNEL = "hall_live"
HEARTBEAT_S = 15.0
APPLICATION_NAME = "hall-live-feed"   # how the listening connection shows in pg_stat_activity


class PostgresLiveFeed:
    """Listens on ``hall_live`` and publishes into ``hub`` until closed.

    Use as an async context manager; the listening task is owned here and cancelled on exit,
    which also closes the hub so that open page streams end.
    """

    def __init__(self, dsn: str, hub: LiveHub | None = None, *, backoff_max_s: float = 5.0) -> None:
        self._dsn = dsn
        self.hub = hub or LiveHub()
        self._backoff_max_s = backoff_max_s
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        self.reconnects = 0

    async def __aenter__(self) -> PostgresLiveFeed:
        self._task = asyncio.create_task(self._run(), name="live-feed-listen")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.hub.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        delay = 0.2
        while True:
            raise_if_cancelled()   # a stop a library's wait swallowed (devices/cancellation.py)
            try:
                async for notice in self._listen():
                    delay = 0.2
                    self.hub.publish(notice)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                logger.warning("live feed: lost the database (%s); reconnecting", exc)
            except Exception:
                # The loop boundary: pages must not lose their updates for good over one
                # surprise, so log it and listen again.
                logger.exception("live feed: listening failed; reconnecting")
            self.listening.clear()
            self.reconnects += 1
            # Jitter: several controllers restarting with the database must not reconnect in step.
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self._backoff_max_s)

    async def _listen(self) -> AsyncIterator[LiveNotice]:
        async with await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, connect_timeout=5,
                application_name=APPLICATION_NAME) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            logger.info("live feed: listening on %s", CHANNEL)
            # Whatever happened while not listening is unknown: pages re-read.
            yield LiveNotice(RESYNC, {"reason": "feed connected"})
            while True:
                async for notify in conn.notifies(timeout=HEARTBEAT_S):
                    notice = parse_notice(notify.payload)
                    if notice is not None:
                        yield notice
                # A quiet spell: make sure the connection is alive (a dead one raises here),
                # since a half-open TCP connection would otherwise wait for notices forever.
                await conn.execute("SELECT 1")
