"""The pages' live feed: PostgreSQL ``LISTEN hall_live`` fanned out to in-process subscribers.

Migration 0009 makes the database ``pg_notify`` a small JSON notice on the channel
``hall_live`` when a ticket moves, a device's presence changes or an alarm changes. Because the
notices come from the database, a page served by one controller process sees the moves made
through any other one.

``LiveHub`` is the pure fan-out (also what unit tests and an in-memory setup publish into);
``PostgresLiveFeed`` owns one dedicated connection that listens and reconnects with jittered
backoff. After every (re)connection it publishes a ``resync`` notice: notices sent while it was
not listening are lost, so pages re-read what they show.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import psycopg

logger = logging.getLogger(__name__)

CHANNEL = "hall_live"
RESYNC = "resync"
# A page that cannot keep up (a frozen tab) loses its oldest notices and gets a resync instead
# of growing this process's memory.
SUBSCRIBER_QUEUE = 256
HEARTBEAT_S = 15.0
APPLICATION_NAME = "hall-live-feed"   # how the listening connection shows in pg_stat_activity


class FeedClosed(Exception):
    """The hub was closed (the server is stopping); the subscriber should end its stream."""


@dataclass(frozen=True, slots=True)
class LiveNotice:
    """One notice: ``topic`` is ``ticket``, ``device``, ``alarm`` or ``resync``."""

    topic: str
    data: dict[str, Any] = field(default_factory=dict)


class Subscription:
    """A subscriber's bounded queue; iterate it for notices. Ends when the hub closes."""

    def __init__(self, hub: LiveHub, topics: frozenset[str]) -> None:
        self._hub = hub
        self.topics = topics
        self._queue: asyncio.Queue[LiveNotice | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.dropped = 0

    def offer(self, notice: LiveNotice | None) -> None:
        if notice is not None and notice.topic not in self.topics and notice.topic != RESYNC:
            return
        if self._queue.full():
            # Drop the oldest and tell the page to re-read: it missed something.
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self.dropped += 1
            notice = LiveNotice(RESYNC, {"reason": "slow subscriber"}) if notice else None
        self._queue.put_nowait(notice)

    async def next(self, timeout_s: float) -> LiveNotice | None:
        """The next notice; ``None`` after ``timeout_s`` of silence. Raises ``FeedClosed`` once
        the hub is closed."""
        try:
            notice = await asyncio.wait_for(self._queue.get(), timeout_s)
        except TimeoutError:
            return None
        if notice is None:
            raise FeedClosed
        return notice

    def close(self) -> None:
        self._hub.unsubscribe(self)


class LiveHub:
    """Fans notices out to subscribers; publishing never waits."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self.closed = False

    def subscribe(self, topics: Collection[str]) -> Subscription:
        subscription = Subscription(self, frozenset(topics))
        if self.closed:
            subscription.offer(None)
        else:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, notice: LiveNotice) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(notice)

    def close(self) -> None:
        """End every subscription (the server is stopping: open streams must not hold it)."""
        self.closed = True
        for subscription in list(self._subscribers):
            subscription.offer(None)
        self._subscribers.clear()


def parse_notice(payload: str) -> LiveNotice | None:
    """A notice from a NOTIFY payload; None (logged) for one that is not ours."""
    try:
        body = json.loads(payload)
    except ValueError:
        logger.warning("live feed: payload is not JSON: %.200r", payload)
        return None
    if not isinstance(body, dict) or not isinstance(body.get("topic"), str):
        logger.warning("live feed: payload without a topic: %.200r", payload)
        return None
    topic = body.pop("topic")
    return LiveNotice(topic, body)


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
