"""Acknowledge only after commit, seen from the broker: the database taken away from a running
controller, and a controller process killed in the middle of its work.

What the controller acknowledged is read from the broker's own packet log (``LoggingMosquitto``),
not from the controller, so a controller that let paho acknowledge on receipt fails here.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from devices.contract import now_ms
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.kernel.postgres.embedded import embedded_postgres
from hall_controller.kernel.postgres.migrate import apply_migrations
from tests.support.broker_log import LoggingMosquitto
from tests.support.controller import RawDevice, eventually, raw_device, running_controller
from tests.support.controller_process import ControllerProcess
from tests.support.db_fixtures import private_pg_dir
from tests.support.kiosks import RawKiosk, Reply, raw_kiosks

pytestmark = pytest.mark.integration


class StoppablePostgres:
    """A PostgreSQL server of this test's own (pgserver, in a folder of its own) that the test
    stops and starts again: the shared test server must never go down under other tests.
    It keeps its data folder, hence its socket and DSN, across restarts."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._server: contextlib.AbstractAsyncContextManager[str] | None = None
        self.dsn = ""

    async def start(self) -> str:
        server = embedded_postgres(self._data_dir)
        dsn = await server.__aenter__()
        self._server = server
        assert self.dsn in ("", dsn), "the server came back somewhere else"
        self.dsn = dsn
        return dsn

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.__aexit__(None, None, None)


@pytest.fixture
async def own_postgres() -> AsyncIterator[StoppablePostgres]:
    with private_pg_dir() as data_dir:
        server = StoppablePostgres(data_dir)
        await server.start()
        try:
            await apply_migrations(server.dsn)
            yield server
        finally:
            await server.stop()


@pytest.fixture
def logging_broker() -> Iterator[LoggingMosquitto]:
    with LoggingMosquitto() as broker:
        yield broker


async def _count(dsn: str, query: str, *params: object) -> int:
    async with await psycopg.AsyncConnection.connect(dsn, connect_timeout=5) as conn:
        row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    return int(row[0])


async def test_nothing_is_acknowledged_while_the_database_is_down_and_all_is_committed_after(
        logging_broker: LoggingMosquitto, own_postgres: StoppablePostgres,
        topic_prefix: str) -> None:
    broker, database = logging_broker, own_postgres
    client_id = f"ctl-{uuid.uuid4().hex[:8]}"
    async with PostgresStore.connect(database.dsn, timeout_s=2) as store, \
            running_controller(broker.url, topic_prefix, store, client_id=client_id) as controller, \
            raw_device(broker.url, topic_prefix, "lock-17") as lock:
        await lock.birth("door_lock")
        before = [await lock.event("door.opened", {"n": i}) for i in range(10)]

        async def stored_events() -> int:
            return len(await store.list_events("lock-17", 1000))

        async def first_ten_stored() -> bool:
            return await stored_events() == 10
        await eventually(first_ten_stored, what="the first 10 events stored")
        acked = broker.pubacks_from(
            client_id, await broker.lines_up_to_marker(client_id, controller.bus.publish))
        assert acked >= 11, "the birth and the first 10 events were acknowledged"

        await database.stop()
        received = controller.counters.received
        during = [await lock.event("door.opened", {"n": 100 + i}) for i in range(40)]
        for i in range(40):
            await lock.telemetry({"battery_pct": 100 - i})
        sent_during = len(during) + 40

        async def all_received_and_commit_refused() -> bool:
            return (controller.counters.received >= received + sent_during
                    and controller.counters.commit_failures >= 1)
        await eventually(all_received_and_commit_refused, timeout_s=15,
                         what="the controller holding 80 messages it cannot commit")
        # Everything the controller sent the broker so far is in the log before the marker.
        lines = await broker.lines_up_to_marker(client_id, controller.bus.publish)
        assert broker.pubacks_from(client_id, lines) == acked, \
            "messages were acknowledged while the database was down"

        await database.start()

        async def everything_committed() -> bool:
            events = await stored_events()
            samples = sum(b.count for b in await store.telemetry_series(
                "lock-17", "battery_pct", 0, now_ms() + 60_000, 86_400))
            return events == len(before) + len(during) and samples == 40
        await eventually(everything_committed, timeout_s=60,
                         what="everything sent during the outage committed")
        stored = {e["event_id"] for e in await store.list_events("lock-17", 1000)}
        assert stored == set(before) | set(during)

        async def all_acknowledged() -> bool:
            lines = await broker.lines_up_to_marker(client_id, controller.bus.publish)
            return broker.pubacks_from(client_id, lines) == acked + sent_during
        await eventually(all_acknowledged, timeout_s=10,
                         what="one PUBACK for each message committed after the outage")


EVENTS = 3000
TICKETS = 30
LOCK_EVENTS = "SELECT count(*) FROM events WHERE device_id = 'lock-31'"
LOCK_SAMPLES = "SELECT count(*) FROM telemetry WHERE device_id = 'lock-31'"


async def test_a_controller_killed_mid_batch_loses_nothing_and_hands_out_nothing_twice(
        logging_broker: LoggingMosquitto, database_url: str, topic_prefix: str,
        tmp_path: Path) -> None:
    """SIGKILL while the controller has messages in flight, the devices still publishing; a new
    process on the same persistent session gets the broker's redeliveries: every event and
    sample stored once, every visitor one ticket, the numbers without a gap."""
    broker = logging_broker
    client_id = f"ctl-{uuid.uuid4().hex[:8]}"
    env = {"HALL_MQTT_URL": broker.url, "HALL_DATABASE_URL": database_url,
           "HALL_MQTT_TOPIC_PREFIX": topic_prefix, "HALL_MQTT_CLIENT_ID": client_id}
    first = ControllerProcess("ctl-first", env, tmp_path)
    second: ControllerProcess | None = None
    try:
        await asyncio.to_thread(first.wait_ready)
        async with raw_device(broker.url, topic_prefix, "lock-31") as lock, \
                raw_kiosks(broker.url, topic_prefix, TICKETS) as kiosks:
            await lock.birth("door_lock")
            replies: list[asyncio.Task[Reply]] = []
            sending = asyncio.create_task(_stream(lock, kiosks, replies))

            async def some_committed() -> bool:
                return await _count(database_url, LOCK_EVENTS) >= EVENTS // 6
            await eventually(some_committed, timeout_s=30, what="the first events committed")
            # A fast controller keeps up with the devices, so a kill at a random moment may
            # find nothing unacknowledged. Frozen, it acknowledges nothing more while the
            # broker goes on delivering: kill it once the broker has sent what it cannot have
            # acknowledged (it would never be acknowledged now).
            first.freeze()

            def unacknowledged() -> int:
                lines = broker.lines()
                return broker.publishes_to(client_id, lines=lines) \
                    - broker.pubacks_from(client_id, lines)
            await eventually(unacknowledged, timeout_s=30,
                             what="a delivery the frozen controller has not acknowledged")
            first.kill()
            in_flight = unacknowledged()
            at_kill = await _count(database_url, LOCK_EVENTS)
            await sending  # the devices go on; the broker keeps it for the session
            assert at_kill < EVENTS, "the controller finished before it was killed"
            assert in_flight > 0, "the controller had nothing unacknowledged when killed"

            second = ControllerProcess("ctl-second", env, tmp_path)
            await asyncio.to_thread(second.wait_ready)

            async def all_committed() -> bool:
                return (await _count(database_url, LOCK_EVENTS) == EVENTS
                        and await _count(database_url, LOCK_SAMPLES) == EVENTS)
            await eventually(all_committed, timeout_s=30, what="every event and sample")
            answered = await asyncio.gather(*replies)
        assert broker.publishes_to(client_id, redelivered=True) > 0, \
            "the broker redelivered nothing to the restarted controller"
        print(f"\nkilled with {at_kill} of {EVENTS} events committed and {in_flight} messages "
              f"unacknowledged; after the restart: {second.counters()}")

        # Every visitor holds one ticket, whatever the kill cut: the reply heard before it and
        # the one after the redelivery name the same ticket, and no number was skipped.
        assert all(r.body["ok"] for r in answered), [r.body for r in answered if not r.body["ok"]]
        for kiosk in kiosks:
            for request_id, bodies in kiosk.replies.items():
                assert len({b["result"]["ticket_id"] for b in bodies}) == 1, (request_id, bodies)
        numbers = sorted(r.body["result"]["ticket"] for r in answered)
        assert numbers == [f"A{n:03d}" for n in range(1, TICKETS + 1)]
        assert await _count(database_url, "SELECT count(*) FROM tickets") == TICKETS
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def _stream(lock: RawDevice, kiosks: list[RawKiosk], replies: list[asyncio.Task[Reply]]
                  ) -> None:
    """A lock reporting events and samples in bursts, a visitor at a kiosk now and then."""
    every = EVENTS // TICKETS
    for start in range(0, EVENTS, every):
        replies.append(asyncio.create_task(
            kiosks[start // every].request("ticket.take", {"service": "student-id"},
                                           timeout_s=60)))
        await asyncio.gather(*(lock.event("door.opened", {"n": n})
                               for n in range(start, start + every)),
                             *(lock.telemetry({"battery_pct": n % 100})
                               for n in range(start, start + every)))
