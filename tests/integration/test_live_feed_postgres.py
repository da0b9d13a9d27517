"""The live feed behind the pages, on the real PostgreSQL: migration 0009's triggers notify,
``PostgresLiveFeed`` listens, fans out and comes back after losing its connection."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from hall_controller.live.hub import RESYNC, LiveNotice
from hall_controller.live.hub import Subscription as LiveSubscription
from hall_controller.live.postgres_feed import PostgresLiveFeed

pytestmark = pytest.mark.integration


async def next_of(sub: LiveSubscription, topic: str, timeout_s: float = 5) -> LiveNotice:
    async with asyncio.timeout(timeout_s):
        while True:
            notice = await sub.next(timeout_s)
            if notice is not None and notice.topic == topic:
                return notice


async def test_presence_and_alarm_changes_reach_subscribers_and_telemetry_does_not(
        database_url: str) -> None:
    async with PostgresLiveFeed(database_url) as feed:
        sub = feed.hub.subscribe({"device", "alarm"})
        await next_of(sub, RESYNC)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute(
                "INSERT INTO devices (device_id, kind, site, online, session, first_seen, last_seen)"
                " VALUES ('lock-9', 'door_lock', 'dorm-2', true, 1, now(), now())")
            born = await next_of(sub, "device")
            assert born.data["device_id"] == "lock-9"
            assert born.data["online"] is True
            # last_seen moves with every message: not news.
            await conn.execute("UPDATE devices SET last_seen = now() WHERE device_id = 'lock-9'")
            await conn.execute("UPDATE devices SET online = false, offline_reason = 'will' "
                               "WHERE device_id = 'lock-9'")
            gone = await next_of(sub, "device")
            assert (gone.data["online"], gone.data["offline_reason"]) == (False, "will")
            await conn.execute(
                "INSERT INTO alarms (device_id, type, severity, raised_at, updated_at) "
                "VALUES ('lock-9', 'device.offline', 'major', now(), now())")
            alarm = await next_of(sub, "alarm")
            assert (alarm.data["type"], alarm.data["status"]) == ("device.offline", "active")
            # A rolled-back change sends nothing.
            async with conn.transaction(force_rollback=True):
                await conn.execute("UPDATE devices SET online = true WHERE device_id = 'lock-9'")
            assert await sub.next(0.5) is None


async def test_the_feed_reconnects_after_losing_the_database_and_asks_pages_to_resync(
        database_url: str) -> None:
    async with PostgresLiveFeed(database_url, backoff_max_s=0.5) as feed:
        sub = feed.hub.subscribe({"device"})
        await next_of(sub, RESYNC)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE application_name = 'hall-live-feed' AND datname = current_database()")
            resync = await next_of(sub, RESYNC, timeout_s=10)
            assert resync.data["reason"] == "feed connected"
            assert feed.reconnects >= 1
            await conn.execute(
                "INSERT INTO devices (device_id, kind, online, session, first_seen, last_seen)"
                " VALUES ('gate-9', 'face_gate', true, 1, now(), now())")
            assert (await next_of(sub, "device")).data["device_id"] == "gate-9"
