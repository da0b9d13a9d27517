"""The pages' live notices, fanned out in process: ``LiveHub`` and its subscriptions.

Pure (no database): the PostgreSQL listener (``postgres_feed.PostgresLiveFeed``) publishes into
a hub, and so can unit tests or an in-memory setup. A subscriber that cannot keep up loses its
oldest notices and gets a ``resync`` notice instead: it must re-read what it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

RESYNC = "resync"
# A page that cannot keep up (a frozen tab) loses its oldest notices and gets a resync instead
# of growing this process's memory.
SUBSCRIBER_QUEUE = 256


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
