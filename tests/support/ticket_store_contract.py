"""What every TicketStore must do, as tests: run against MemoryTicketStore (unit) and
PostgresTicketStore (integration). A test module subclasses ``TicketStoreContract`` and
provides a ``ticket_store`` fixture (an empty store)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest

from devices.contract import now_ms
from hall_controller.queue.model import ServiceDef, TicketState
from hall_controller.queue.ports import (
    DailyCapReached,
    InvalidService,
    NumberInUse,
    TicketRequest,
    TicketStore,
    UnknownService,
)

DAY = "2026-11-28"
SERVICES = [
    ServiceDef("student-id", "学生证办理", "A"),
    ServiceDef("transcript", "成绩单与证明", "B", first_number=101, last_number=1999),
    ServiceDef("finance", "财务缴费", "D", daily_cap=2),
    ServiceDef("tiny", "Tiny range", "T", first_number=8, last_number=9),
]


def take(service: str = "student-id", *, day: str = DAY, device: str | None = "kiosk-01",
         request_id: str | None = None, priority: bool = False,
         at_ms: int | None = None) -> TicketRequest:
    return TicketRequest(
        ticket_id=str(uuid.uuid4()), service_code=service, service_day=day,
        issued_ms=now_ms() if at_ms is None else at_ms, actor=f"kiosk:{device}",
        priority=priority, origin_device=device,
        request_id=request_id or str(uuid.uuid4()) if device else None)


class TicketStoreContract:
    @pytest.fixture(autouse=True)
    async def _catalog(self, ticket_store: TicketStore) -> None:
        await ticket_store.sync_services(SERVICES)

    async def test_numbers_are_consecutive_from_the_first_number(self, ticket_store: TicketStore) -> None:
        numbers = [(await ticket_store.issue_ticket(take())).ticket.number for _ in range(3)]
        assert numbers == ["A001", "A002", "A003"]
        issued = await ticket_store.issue_ticket(take("transcript"))
        assert (issued.ticket.number, issued.ticket.seq) == ("B0101", 101)  # width of 1999

    async def test_each_service_and_day_counts_on_its_own(self, ticket_store: TicketStore) -> None:
        await ticket_store.issue_ticket(take("student-id"))
        other_service = await ticket_store.issue_ticket(take("transcript"))
        next_day = await ticket_store.issue_ticket(take("student-id", day="2026-11-29"))
        assert other_service.ticket.number == "B0101"
        assert next_day.ticket.number == "A001"

    async def test_daily_cap_then_range_refuse_more_tickets(self, ticket_store: TicketStore) -> None:
        for _ in range(2):
            await ticket_store.issue_ticket(take("finance"))
        with pytest.raises(DailyCapReached):
            await ticket_store.issue_ticket(take("finance"))
        assert [t.number for t in await ticket_store.list_tickets("finance", DAY)] == ["D001", "D002"]
        assert (await ticket_store.issue_ticket(take("finance", day="2026-11-29"))).ticket.seq == 1
        tiny = [(await ticket_store.issue_ticket(take("tiny"))).ticket.number for _ in range(2)]
        assert tiny == ["T008", "T009"]
        with pytest.raises(DailyCapReached):
            await ticket_store.issue_ticket(take("tiny"))

    async def test_unknown_and_removed_services_issue_nothing(self, ticket_store: TicketStore) -> None:
        with pytest.raises(UnknownService):
            await ticket_store.issue_ticket(take("no-such-service"))
        await ticket_store.sync_services(SERVICES[1:])
        with pytest.raises(UnknownService):
            await ticket_store.issue_ticket(take("student-id"))
        await ticket_store.sync_services(SERVICES)  # back in the config: active again
        assert (await ticket_store.issue_ticket(take("student-id"))).ticket.number == "A001"

    async def test_a_redelivered_request_gets_the_same_ticket(self, ticket_store: TicketStore) -> None:
        first = await ticket_store.issue_ticket(take(request_id="req-1"))
        again = await ticket_store.issue_ticket(take(request_id="req-1"))
        assert first.created and not again.created
        assert again.ticket.ticket_id == first.ticket.ticket_id
        assert again.ticket.number == "A001"
        other_kiosk = await ticket_store.issue_ticket(take(device="kiosk-02", request_id="req-1"))
        assert other_kiosk.ticket.number == "A002"  # request ids are per device
        assert len(await ticket_store.list_tickets("student-id", DAY)) == 2

    async def test_ticket_is_stored_waiting_with_its_first_transition(
            self, ticket_store: TicketStore) -> None:
        issued = await ticket_store.issue_ticket(take(priority=True, at_ms=1_700_000_000_123))
        stored = await ticket_store.get_ticket(issued.ticket.ticket_id)
        assert stored == issued.ticket
        assert stored is not None and stored.state is TicketState.WAITING and stored.priority
        assert stored.issued_ms == 1_700_000_000_123 and stored.case_ids == []
        [transition] = await ticket_store.ticket_transitions(stored.ticket_id)
        assert (transition.from_state, transition.to_state) == (None, TicketState.WAITING)
        assert transition.actor == "kiosk:kiosk-01"
        assert await ticket_store.get_ticket(str(uuid.uuid4())) is None

    async def test_a_persons_tickets_of_a_day_across_services(self, ticket_store: TicketStore) -> None:
        mine = [dataclasses.replace(take(service, at_ms=1_700_000_000_000 + n), person_id="p-1")
                for n, service in enumerate(("transcript", "student-id"))]
        for request in mine:
            await ticket_store.issue_ticket(request)
        await ticket_store.issue_ticket(dataclasses.replace(take(), person_id="p-2"))
        await ticket_store.issue_ticket(dataclasses.replace(take(day="2026-11-29"), person_id="p-1"))
        found = await ticket_store.person_tickets("p-1", DAY)
        assert [t.ticket_id for t in found] == [r.ticket_id for r in mine]
        assert await ticket_store.person_tickets("p-3", DAY) == []

    async def test_waiting_ahead_counts_earlier_waiting_tickets(self, ticket_store: TicketStore) -> None:
        base = now_ms()
        ahead = [(await ticket_store.issue_ticket(take(at_ms=base + i))).waiting_ahead
                 for i in range(3)]
        assert ahead == [0, 1, 2]
        # The green channel jumps the normal queue in this interim rule; redelivery re-reads.
        green = await ticket_store.issue_ticket(take(priority=True, at_ms=base + 3, request_id="g"))
        assert green.waiting_ahead == 0
        green_again = await ticket_store.issue_ticket(take(priority=True, request_id="g"))
        assert green_again.waiting_ahead == 0 and not green_again.created
        assert (await ticket_store.issue_ticket(take(at_ms=base + 4))).waiting_ahead == 4
        assert (await ticket_store.issue_ticket(take("transcript"))).waiting_ahead == 0
        assert green.recent_service_s is None and green.serving_windows == 0

    async def test_the_same_request_twice_at_once_makes_one_ticket(
            self, ticket_store: TicketStore) -> None:
        """A kiosk resending fast: both copies may land in one allocation round."""
        first, again, other = await asyncio.gather(
            ticket_store.issue_ticket(take(request_id="twice")),
            ticket_store.issue_ticket(take(request_id="twice")),
            ticket_store.issue_ticket(take(request_id="other")))
        assert first.ticket.ticket_id == again.ticket.ticket_id
        assert sorted([first.created, again.created]) == [False, True]
        assert sorted(t.number for t in await ticket_store.list_tickets("student-id", DAY)) == [
            "A001", "A002"]
        assert other.ticket.number in ("A001", "A002")

    async def test_a_number_a_live_ticket_shows_is_not_printed_again(
            self, ticket_store: TicketStore) -> None:
        """Prefixes swapped between restarts during a day: finance would now print A001, which
        the student-id ticket the hall is about to call shows. Refused; nothing is stored and
        no number is used up."""
        first = await ticket_store.issue_ticket(take())
        assert first.ticket.number == "A001"
        swapped = [dataclasses.replace(s, prefix={"A": "X", "D": "A"}.get(s.prefix, s.prefix))
                   for s in SERVICES]
        await ticket_store.sync_services(swapped)
        with pytest.raises(NumberInUse):
            await ticket_store.issue_ticket(take("finance"))
        assert await ticket_store.list_tickets("finance", DAY) == []
        assert (await ticket_store.issue_ticket(take())).ticket.number == "X002"
        assert (await ticket_store.issue_ticket(take("finance", day="2026-11-29"))).ticket.number \
            == "A001"  # another day: numbers restart, nothing live shows it
        await ticket_store.sync_services(SERVICES)
        assert (await ticket_store.issue_ticket(take("finance"))).ticket.number == "D001"

    @pytest.mark.parametrize("bad", [
        {"first_number": -1}, {"first_number": 10, "last_number": 9}, {"daily_cap": 0},
        {"target_wait_s": 0}])
    async def test_the_catalog_refuses_what_its_checks_refuse(
            self, ticket_store: TicketStore, bad: dict[str, int]) -> None:
        broken = dataclasses.replace(SERVICES[0], code="broken", **bad)
        with pytest.raises(InvalidService):
            await ticket_store.sync_services([*SERVICES[1:], broken])
        with pytest.raises(UnknownService):
            await ticket_store.issue_ticket(take("broken"))
        # Nothing of that sync happened: student-id is still active.
        assert (await ticket_store.issue_ticket(take())).ticket.number == "A001"
