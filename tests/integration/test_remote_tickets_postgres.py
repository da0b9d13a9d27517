"""Remote tickets (指尖办) end to end: PostgreSQL, a real broker, raw MQTT kiosks.

Check-in through a kiosk's ``ticket.take``, the controller's housekeeping task lapsing an
overdue ticket, and the daily rollover with an injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import UTC, datetime, time
from typing import Any

import pytest

from hall_controller.queue.model import ServiceDef, TicketSource, TicketState
from hall_controller.queue.postgres_moves import PostgresTicketMoves
from hall_controller.queue.postgres_remote import PostgresRemoteTickets
from hall_controller.queue.remote_tickets import RemoteTicketService
from hall_controller.queue.rules import call
from hall_controller.queue.tickets import QueueSettings, TicketService
from hall_controller.runtime import HallController
from tests.support.controller import running_controller
from tests.support.hall_store import PostgresHallStore
from tests.support.kiosks import raw_kiosks
from tests.support.remote_tickets_contract import RemoteStores, RemoteTicketsContract

QUEUE = QueueSettings(services=(ServiceDef("student-id", "学生证办理", "A"),
                                ServiceDef("dorm", "宿舍事务", "C")))


def remote_controller(broker_url: str, prefix: str, store: PostgresHallStore,
                      queue: QueueSettings = QUEUE
                      ) -> contextlib.AbstractAsyncContextManager[HallController]:
    """A controller with remote tickets on, as ``hall controller`` installs them."""
    return running_controller(broker_url, prefix, store, queue=queue,
                              moves=PostgresTicketMoves(store.pool),
                              remote_tickets=PostgresRemoteTickets(store.pool))


def remote_service(controller: HallController) -> RemoteTicketService:
    return controller.services.get(RemoteTicketService)


async def test_a_raw_kiosk_checks_a_remote_ticket_in(broker_url: str, topic_prefix: str,
                                                     hall_store: PostgresHallStore) -> None:
    async with (remote_controller(broker_url, topic_prefix, hall_store) as controller,
                raw_kiosks(broker_url, topic_prefix, 1) as [kiosk]):
        remote = await remote_service(controller).take("student-id", ("campus_card", "2023001"),
                                              caller="api_key:platform")
        assert remote.ticket.number == "A001"
        assert remote.ticket.state is TicketState.AWAITING_CHECKIN
        walk_in = await kiosk.take("student-id")
        assert walk_in.body["result"]["ticket"] == "A002"
        assert walk_in.body["result"]["waiting_ahead"] == 0  # the remote one is not queued yet

        identity = {"type": "campus_card", "value": "2023001"}
        checked = await kiosk.take("student-id", identity=identity)
        assert checked.body["ok"], checked.body
        result = checked.body["result"]
        assert result["checked_in"] is True and result["ticket_id"] == remote.ticket.ticket_id
        assert result["ticket"] == "A001" and result["waiting_ahead"] == 1  # behind the walk-in
        stored = await hall_store.get_ticket(remote.ticket.ticket_id)
        assert stored is not None and stored.state is TicketState.WAITING
        assert stored.issued_ms > remote.ticket.issued_ms  # queues from check-in
        transitions = await hall_store.ticket_transitions(remote.ticket.ticket_id)
        assert [(t.to_state, t.actor) for t in transitions] == [
            (TicketState.AWAITING_CHECKIN, "remote:api_key:platform"),
            (TicketState.WAITING, f"kiosk:{kiosk.device_id}")]

        # Resent with the same request id: the same ticket, still checked in, nothing new.
        again = await kiosk.request("ticket.take", {"service": "student-id", "identity": identity},
                                    request_id=checked.request_id)
        assert again.body["result"]["ticket_id"] == remote.ticket.ticket_id
        assert again.body["result"]["checked_in"] is True
        assert len(await hall_store.list_tickets("student-id", stored.service_day)) == 2
        # Once checked in, the same card takes an ordinary ticket.
        second = await kiosk.take("student-id", identity=identity)
        assert second.body["result"]["ticket"] == "A003"
        assert "checked_in" not in second.body["result"]
        status = await remote_service(controller).status(remote.ticket.ticket_id)
        assert status.ticket.state is TicketState.WAITING and status.waiting_ahead == 1


async def test_the_controller_lapses_a_ticket_not_checked_in(broker_url: str, topic_prefix: str,
                                                             hall_store: PostgresHallStore) -> None:
    queue = dataclasses.replace(QUEUE, housekeeping_interval_s=0.1)
    async with remote_controller(broker_url, topic_prefix, hall_store, queue) as controller:
        now = int(datetime.now(UTC).timestamp() * 1000)
        soon = await remote_service(controller).take("dorm", ("person_id", "p-1"), caller="user:cleo",
                                            arrive_by_ms=now + 300)
        later = await remote_service(controller).take("student-id", ("person_id", "p-1"),
                                             caller="user:cleo")
        async with asyncio.timeout(10):
            while True:
                stored = await hall_store.get_ticket(soon.ticket.ticket_id)
                assert stored is not None
                if stored.state is TicketState.LAPSED:
                    break
                await asyncio.sleep(0.05)
        last = (await hall_store.ticket_transitions(soon.ticket.ticket_id))[-1]
        assert (last.from_state, last.to_state, last.actor) == (
            TicketState.AWAITING_CHECKIN, TicketState.LAPSED, "system")
        kept = await hall_store.get_ticket(later.ticket.ticket_id)
        assert kept is not None and kept.state is TicketState.AWAITING_CHECKIN
        info = await PostgresRemoteTickets(hall_store.pool).remote_info(soon.ticket.ticket_id)
        assert info is not None and info.checkin_by_ms == now + 300


def _ms(*parts: int) -> int:
    year, month, day, hour, minute = parts
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


async def test_rollover_at_the_local_time_over_postgres(hall_store: PostgresHallStore) -> None:
    clock = {"now": _ms(2026, 11, 28, 12, 0)}  # 20:00 in Shanghai, service day 2026-11-28
    settings = dataclasses.replace(QUEUE, rollover_at=time(3, 0),
                                   remote_checkin_window_min=24 * 60)
    tickets = TicketService(hall_store, settings, clock=lambda: clock["now"])
    await tickets.start()
    moves = PostgresTicketMoves(hall_store.pool)
    remote_store = PostgresRemoteTickets(hall_store.pool)
    remote = RemoteTicketService(tickets, hall_store, moves, remote_store,
                                 clock=lambda: clock["now"])
    tickets.checkin = remote

    async def take(**params: Any) -> dict[str, Any]:
        return await tickets.take("kiosk-01", None, {"service": "student-id", **params})

    first, second = await take(), await take()
    awaiting = await remote.take("dorm", ("person_id", "p-9"), caller="user:cleo")
    ticket = await hall_store.get_ticket(second["ticket_id"])
    assert ticket is not None
    await moves.apply_move(call(ticket, window_id="w1", actor="clerk:c", now_ms=clock["now"]),
                           TicketState.WAITING)

    clock["now"] = _ms(2026, 11, 28, 18, 59)  # 02:59 local on the 29th: same service day
    assert await remote.rollover() == 0
    assert (await take())["ticket"] == "A003"

    clock["now"] = _ms(2026, 11, 28, 19, 0)  # 03:00 local: the 29th's service day
    assert await remote.rollover() == 4
    states = {t.ticket_id: t for t in await hall_store.list_tickets("student-id", "2026-11-28")}
    assert {t.state for t in states.values()} == {TicketState.CANCELLED}
    lapsed = await hall_store.get_ticket(awaiting.ticket.ticket_id)
    assert lapsed is not None and lapsed.state is TicketState.LAPSED
    assert lapsed.source is TicketSource.REMOTE
    history = await hall_store.ticket_transitions(second["ticket_id"])
    assert [(t.to_state, t.detail) for t in history] == [
        (TicketState.WAITING, None), (TicketState.CALLED, None),
        (TicketState.CANCELLED, "rollover")]
    assert first["ticket"] == "A001"
    fresh = await take()
    assert fresh["ticket"] == "A001"  # numbers restart with the service day
    stored = await hall_store.get_ticket(fresh["ticket_id"])
    assert stored is not None and stored.service_day == "2026-11-29"
    assert await remote.rollover() == 0


class TestPostgresRemoteTickets(RemoteTicketsContract):
    @pytest.fixture
    def remote_stores(self, hall_store: PostgresHallStore) -> RemoteStores:
        return RemoteStores(hall_store, PostgresRemoteTickets(hall_store.pool))
