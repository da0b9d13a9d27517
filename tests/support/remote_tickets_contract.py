"""What every RemoteTicketStore must do, as tests: run against MemoryRemoteTickets (unit) and
PostgresRemoteTickets (integration). A test module subclasses ``RemoteTicketsContract`` and
provides a ``remote_stores`` fixture: an empty ``RemoteStores`` (both ports over one data set).

The cases hold the fake to migration 0007's constraints: the remote part of a ticket refers
to a stored ticket, and one kiosk request checks one ticket in."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

import pytest

from hall_controller.kernel.errors import NotFound
from hall_controller.queue import rules as queue
from hall_controller.queue.model import Ticket, TicketSource, TicketState
from hall_controller.queue.ports import RemoteInfo, RemoteTicketStore, TicketStore
from tests.support.ticket_store_contract import DAY, SERVICES, take

T0 = 1_764_300_000_000


@dataclass
class RemoteStores:
    tickets: TicketStore
    remote: RemoteTicketStore


class RemoteTicketsContract:
    @pytest.fixture(autouse=True)
    async def _catalog(self, remote_stores: RemoteStores) -> None:
        await remote_stores.tickets.sync_services(SERVICES)

    async def _remote(self, stores: RemoteStores, card: str, *, at_ms: int = T0) -> Ticket:
        request = dataclasses.replace(take(device=None, at_ms=at_ms), source=TicketSource.REMOTE,
                                      identity_type="campus_card", identity_value=card)
        return (await stores.tickets.issue_ticket(request)).ticket

    async def test_the_remote_part_belongs_to_a_stored_ticket(
            self, remote_stores: RemoteStores) -> None:
        remote = remote_stores.remote
        ticket = await self._remote(remote_stores, "2023001")
        first = RemoteInfo(ticket.ticket_id, T0 + 60_000, "case-1", "api_key:platform")
        await remote.record_remote(first)
        await remote.record_remote(dataclasses.replace(first, case_id="case-2"))  # no change
        assert await remote.remote_info(ticket.ticket_id) == first
        ghost = str(uuid.uuid4())
        with pytest.raises(NotFound):
            await remote.record_remote(dataclasses.replace(first, ticket_id=ghost))
        assert await remote.remote_info(ghost) is None

    async def test_one_kiosk_request_checks_one_ticket_in(self, remote_stores: RemoteStores) -> None:
        remote = remote_stores.remote
        mine = await self._remote(remote_stores, "2023001")
        other = await self._remote(remote_stores, "2023002", at_ms=T0 + 1)
        checked = await remote.check_in(queue.check_in(mine, actor="kiosk:k1", now_ms=T0 + 10),
                                        "k1", "req-1")
        assert checked is not None and checked.state is TicketState.WAITING
        # The same request id again, for another ticket (a redelivery that raced in): refused
        # whole, the other ticket still awaits its visitor.
        assert await remote.check_in(queue.check_in(other, actor="kiosk:k1", now_ms=T0 + 20),
                                     "k1", "req-1") is None
        still = await remote_stores.tickets.get_ticket(other.ticket_id)
        assert still is not None and still.state is TicketState.AWAITING_CHECKIN
        assert len(await remote_stores.tickets.ticket_transitions(other.ticket_id)) == 1
        found = await remote.ticket_for_request("k1", "req-1")
        assert found is not None and found.ticket_id == mine.ticket_id
        # A ticket checked in already is not checked in again, whichever request asks.
        assert await remote.check_in(queue.check_in(mine, actor="kiosk:k2", now_ms=T0 + 30),
                                     "k2", "req-9") is None
        assert await remote.ticket_for_request("k2", "req-9") is None

    async def test_check_in_changes_only_the_state_and_the_arrival(
            self, remote_stores: RemoteStores) -> None:
        ticket = await self._remote(remote_stores, "2023001")
        moved = queue.check_in(ticket, actor="kiosk:k1", now_ms=T0 + 10)
        moved.ticket.issued_ms = T0 + 10  # as the service does: it queues from its arrival
        moved.ticket.number = "Z999"      # a number is printed once; a move never changes it
        moved.ticket.priority = True
        checked = await remote_stores.remote.check_in(moved, None, None)
        assert checked is not None
        assert (checked.state, checked.issued_ms, checked.number, checked.priority) == (
            TicketState.WAITING, T0 + 10, ticket.number, False)
        assert await remote_stores.tickets.get_ticket(ticket.ticket_id) == checked
        assert [t.number for t in await remote_stores.tickets.list_tickets("student-id", DAY)] \
            == [ticket.number]
