"""What every TicketMoveStore must do, as tests: run against MemoryTicketMoves (unit) and
PostgresTicketMoves (integration). A test module subclasses ``TicketMovesContract`` and
provides a ``move_stores`` fixture: an empty ``MoveStores`` (both ports over one data set)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.queue import rules as queue
from hall_controller.queue.model import Ticket, TicketState
from hall_controller.queue.ports import MoveConflict, TicketMoveStore, TicketStore, UnknownService
from hall_controller.queue.rules import Outcome
from tests.support.ticket_store_contract import DAY, SERVICES, take

T0 = 1_764_300_000_000


@dataclass
class MoveStores:
    tickets: TicketStore
    moves: TicketMoveStore
    # What the cases engine does concurrently: link a case to a stored ticket.
    link_case: Callable[[str, str], Awaitable[None]]


class TicketMovesContract:
    @pytest.fixture(autouse=True)
    async def _catalog(self, move_stores: MoveStores) -> None:
        await move_stores.tickets.sync_services(SERVICES)

    async def _issue(self, stores: MoveStores, service: str = "student-id", *,
                     at_ms: int = T0, priority: bool = False) -> Ticket:
        return (await stores.tickets.issue_ticket(
            take(service, at_ms=at_ms, priority=priority))).ticket

    async def test_a_move_is_stored_with_its_transition(self, move_stores: MoveStores) -> None:
        ticket = await self._issue(move_stores)
        moved = queue.call(ticket, window_id="w1", actor="clerk:alice", now_ms=T0 + 5_000)
        stored = await move_stores.moves.apply_move(moved, TicketState.WAITING)
        assert stored == moved.ticket
        assert await move_stores.tickets.get_ticket(ticket.ticket_id) == moved.ticket
        transitions = await move_stores.tickets.ticket_transitions(ticket.ticket_id)
        assert transitions[-1] == moved.transition

    async def test_a_ticket_moved_meanwhile_is_a_conflict(self, move_stores: MoveStores) -> None:
        ticket = await self._issue(move_stores)
        first = queue.call(ticket, window_id="w1", actor="clerk:alice", now_ms=T0 + 1)
        second = queue.call(ticket, window_id="w2", actor="clerk:bob", now_ms=T0 + 2)
        await move_stores.moves.apply_move(first, TicketState.WAITING)
        with pytest.raises(MoveConflict, match="already called by another window"):
            await move_stores.moves.apply_move(second, TicketState.WAITING)
        stored = await move_stores.tickets.get_ticket(ticket.ticket_id)
        assert stored is not None and stored.window_id == "w1"
        assert len(await move_stores.tickets.ticket_transitions(ticket.ticket_id)) == 2

    async def test_racing_calls_of_one_ticket_have_one_winner(self, move_stores: MoveStores) -> None:
        ticket = await self._issue(move_stores)
        results = await asyncio.gather(*(
            move_stores.moves.apply_move(
                queue.call(ticket, window_id=f"w{i}", actor="clerk:x", now_ms=T0 + i),
                TicketState.WAITING)
            for i in range(8)), return_exceptions=True)
        assert sum(isinstance(r, Ticket) for r in results) == 1
        assert sum(isinstance(r, MoveConflict) for r in results) == 7

    async def test_an_unknown_ticket_is_not_found(self, move_stores: MoveStores) -> None:
        ticket = await self._issue(move_stores)
        ghost = queue.call(ticket, window_id="w1", actor="clerk:a", now_ms=T0)
        ghost.ticket.ticket_id = "00000000-0000-4000-8000-000000000000"
        with pytest.raises(NotFound):
            await move_stores.moves.apply_move(ghost, TicketState.WAITING)

    async def test_a_move_keeps_cases_linked_meanwhile(self, move_stores: MoveStores) -> None:
        ticket = await self._issue(move_stores)
        await move_stores.link_case(ticket.ticket_id, "case-7")  # after the clerk read it
        moved = queue.call(ticket, window_id="w1", actor="clerk:alice", now_ms=T0 + 1)
        stored = await move_stores.moves.apply_move(moved, TicketState.WAITING)
        assert stored.case_ids == ["case-7"]

    async def test_waiting_current_and_parked(self, move_stores: MoveStores) -> None:
        moves = move_stores.moves
        a1 = await self._issue(move_stores, at_ms=T0)
        b1 = await self._issue(move_stores, "transcript", at_ms=T0 + 1)
        a2 = await self._issue(move_stores, at_ms=T0 + 2)
        await self._issue(move_stores, "finance", at_ms=T0 + 3)
        waiting = await moves.waiting_for(["student-id", "transcript"], DAY)
        assert [t.number for t in waiting] == [a1.number, b1.number, a2.number]
        assert await moves.waiting_for(["student-id"], "2026-11-29") == []

        assert await moves.current_ticket("w1") is None
        called = await moves.apply_move(
            queue.call(a1, window_id="w1", actor="clerk:a", now_ms=T0 + 10), TicketState.WAITING)
        assert await moves.current_ticket("w1") == called
        serving = await moves.apply_move(queue.start(called, actor="clerk:a", now_ms=T0 + 20),
                                         TicketState.CALLED)
        assert await moves.current_ticket("w1") == serving
        parked = await moves.apply_move(queue.park(serving, actor="clerk:a", now_ms=T0 + 30),
                                        TicketState.SERVING)
        assert await moves.current_ticket("w1") is None
        assert await moves.parked_at("w1") == [parked]
        back = await moves.apply_move(queue.resume(parked, actor="clerk:a", now_ms=T0 + 40),
                                      TicketState.PARKED)
        assert back.issued_ms == a1.issued_ms and back.window_id is None
        assert [t.number for t in await moves.waiting_for(["student-id"], DAY)] == [
            a1.number, a2.number]

    async def test_complete_and_transfer_are_stored(self, move_stores: MoveStores) -> None:
        moves = move_stores.moves
        a1 = await self._issue(move_stores, at_ms=T0)
        called = await moves.apply_move(
            queue.call(a1, window_id="w1", actor="clerk:a", now_ms=T0 + 10), TicketState.WAITING)
        moved = await moves.apply_move(
            queue.transfer(called, to_service="transcript", actor="clerk:a", now_ms=T0 + 20),
            TicketState.CALLED)
        assert (moved.service_code, moved.issued_ms, moved.state) == (
            "transcript", a1.issued_ms, TicketState.WAITING)
        again = await moves.apply_move(
            queue.call(moved, window_id="w2", actor="clerk:b", now_ms=T0 + 30), TicketState.WAITING)
        serving = await moves.apply_move(queue.start(again, actor="clerk:b", now_ms=T0 + 40),
                                         TicketState.CALLED)
        done = await moves.apply_move(
            queue.complete(serving, outcome=Outcome.PENDING_MATERIALS, actor="clerk:b",
                           now_ms=T0 + 50, detail="photo"), TicketState.SERVING)
        assert (done.state, done.outcome, done.completed_ms) == (
            TicketState.DONE, "pending_materials", T0 + 50)
        transitions = await move_stores.tickets.ticket_transitions(a1.ticket_id)
        assert [(t.to_state, t.detail) for t in transitions][-2:] == [
            (TicketState.SERVING, None), (TicketState.DONE, "photo")]

    async def test_a_transfer_into_a_service_that_issued_the_same_number(
            self, move_stores: MoveStores) -> None:
        """Issue 10 item 2: finance has issued D001 and D002, student-id A001 and A002 (both
        number from 1). A001 and A002 move to finance, keeping their printed numbers and their
        place rules; D002 moves to student-id at the same moment A002 leaves it."""
        moves = move_stores.moves
        a1 = await self._issue(move_stores, at_ms=T0)
        d1 = await self._issue(move_stores, "finance", at_ms=T0 + 1)
        a2 = await self._issue(move_stores, at_ms=T0 + 2)
        d2 = await self._issue(move_stores, "finance", at_ms=T0 + 3)
        assert (a1.seq, d1.seq, a2.seq, d2.seq) == (1, 1, 2, 2)
        called = await moves.apply_move(
            queue.call(a1, window_id="w1", actor="clerk:a", now_ms=T0 + 10), TicketState.WAITING)
        moved = await moves.apply_move(
            queue.transfer(called, to_service="finance", actor="clerk:a", now_ms=T0 + 20),
            TicketState.CALLED)
        assert (moved.number, moved.seq, moved.service_code, moved.issued_ms) == (
            "A001", 1, "finance", a1.issued_ms)
        # Two windows at once: A002 to finance at the back of its queue, D002 to student-id.
        a2_called, d2_called = await asyncio.gather(
            moves.apply_move(queue.call(a2, window_id="w1", actor="clerk:a", now_ms=T0 + 30),
                             TicketState.WAITING),
            moves.apply_move(queue.call(d2, window_id="w2", actor="clerk:b", now_ms=T0 + 30),
                             TicketState.WAITING))
        a2_moved, d2_moved = await asyncio.gather(
            moves.apply_move(queue.transfer(a2_called, to_service="finance", actor="clerk:a",
                                            now_ms=T0 + 40, requeue_at_back=True),
                             TicketState.CALLED),
            moves.apply_move(queue.transfer(d2_called, to_service="student-id", actor="clerk:b",
                                            now_ms=T0 + 40), TicketState.CALLED))
        assert (a2_moved.number, a2_moved.issued_ms) == ("A002", T0 + 40)
        assert (d2_moved.number, d2_moved.issued_ms) == ("D002", d2.issued_ms)
        assert [t.number for t in await moves.waiting_for(["finance"], DAY)] == [
            "A001", "D001", "A002"]
        assert [t.number for t in await moves.waiting_for(["student-id"], DAY)] == ["D002"]
        assert sorted(t.number for t in await move_stores.tickets.list_tickets("finance", DAY)) \
            == ["A001", "A002", "D001"]
        # The counters are the issuing services': nothing was renumbered or given back.
        assert (await move_stores.tickets.issue_ticket(take(at_ms=T0 + 50))).ticket.number \
            == "A003"

    async def test_a_move_into_a_service_not_in_the_catalog_is_refused(
            self, move_stores: MoveStores) -> None:
        ticket = await self._issue(move_stores)
        called = await move_stores.moves.apply_move(
            queue.call(ticket, window_id="w1", actor="clerk:a", now_ms=T0 + 10), TicketState.WAITING)
        with pytest.raises(UnknownService):
            await move_stores.moves.apply_move(
                queue.transfer(called, to_service="no-such-service", actor="clerk:a",
                               now_ms=T0 + 20), TicketState.CALLED)
        assert await move_stores.tickets.get_ticket(ticket.ticket_id) == called
        assert len(await move_stores.tickets.ticket_transitions(ticket.ticket_id)) == 2

    async def test_a_move_never_changes_the_printed_number(self, move_stores: MoveStores) -> None:
        ticket = await self._issue(move_stores)
        moved = queue.call(ticket, window_id="w1", actor="clerk:a", now_ms=T0 + 10)
        moved.ticket.number, moved.ticket.seq, moved.ticket.priority = "Z999", 999, True
        stored = await move_stores.moves.apply_move(moved, TicketState.WAITING)
        assert (stored.number, stored.seq, stored.priority) == (ticket.number, ticket.seq, False)
        assert (stored.state, stored.window_id) == (TicketState.CALLED, "w1")
        assert await move_stores.tickets.get_ticket(ticket.ticket_id) == stored

    async def test_a_clerks_day_counts_only_their_own_moves(self, move_stores: MoveStores) -> None:
        moves = move_stores.moves

        async def move(ticket: Ticket, moved: queue.Moved, before: TicketState) -> Ticket:
            assert ticket.ticket_id == moved.ticket.ticket_id
            return await moves.apply_move(moved, before)

        # alice: calls, recalls and serves a1 for 90 s; a2 does not come; a3 she transfers.
        a1, a2, a3, a4 = [await self._issue(move_stores, at_ms=T0 + i) for i in range(4)]
        c1 = await move(a1, queue.call(a1, window_id="w1", actor="clerk:alice", now_ms=T0 + 100),
                        TicketState.WAITING)
        c1 = await move(c1, queue.recall(c1, actor="clerk:alice", now_ms=T0 + 200),
                        TicketState.CALLED)
        s1 = await move(c1, queue.start(c1, actor="clerk:alice", now_ms=T0 + 1_000),
                        TicketState.CALLED)
        await move(s1, queue.complete(s1, outcome=Outcome.RESOLVED, actor="clerk:alice",
                                      now_ms=T0 + 91_000), TicketState.SERVING)
        c2 = await move(a2, queue.call(a2, window_id="w1", actor="clerk:alice", now_ms=T0 + 100_000),
                        TicketState.WAITING)
        await move(c2, queue.no_show(c2, actor="clerk:alice", now_ms=T0 + 200_000),
                   TicketState.CALLED)
        c3 = await move(a3, queue.call(a3, window_id="w1", actor="clerk:alice", now_ms=T0 + 210_000),
                        TicketState.WAITING)
        await move(c3, queue.transfer(c3, to_service="transcript", actor="clerk:alice",
                                      now_ms=T0 + 220_000), TicketState.CALLED)
        # bob, at another window: one ticket served in 30 s.
        c4 = await move(a4, queue.call(a4, window_id="w2", actor="clerk:bob", now_ms=T0 + 100),
                        TicketState.WAITING)
        s4 = await move(c4, queue.start(c4, actor="clerk:bob", now_ms=T0 + 200), TicketState.CALLED)
        await move(s4, queue.complete(s4, outcome=Outcome.RESOLVED, actor="clerk:bob",
                                      now_ms=T0 + 30_200), TicketState.SERVING)

        alice = await moves.clerk_day("clerk:alice", DAY)
        assert (alice.called, alice.done, alice.no_show, alice.transferred) == (3, 1, 1, 1)
        assert alice.mean_service_s == pytest.approx(90.0)
        bob = await moves.clerk_day("clerk:bob", DAY)
        assert (bob.called, bob.done, bob.mean_service_s) == (1, 1, pytest.approx(30.0))
        nobody = await moves.clerk_day("clerk:carol", DAY)
        assert (nobody.called, nobody.done, nobody.mean_service_s) == (0, 0, None)
        assert (await moves.clerk_day("clerk:alice", "2020-01-01")).called == 0

    async def test_recent_calls_are_the_windows_walk_in_calls(self, move_stores: MoveStores) -> None:
        moves = move_stores.moves
        for i, priority in enumerate((True, False, True, True)):
            ticket = await self._issue(move_stores, at_ms=T0 + i, priority=priority)
            window = "w2" if i == 1 else "w1"
            await moves.apply_move(queue.call(ticket, window_id=window, actor="clerk:a",
                                              now_ms=T0 + 100 + i), TicketState.WAITING)
        assert await moves.recent_calls("w1", 10) == [True, True, True]
        assert await moves.recent_calls("w1", 2) == [True, True]
        assert await moves.recent_calls("w2", 2) == [False]
        assert await moves.recent_calls("w3", 2) == []

    async def test_window_sessions(self, move_stores: MoveStores) -> None:
        moves = move_stores.moves
        assert await moves.window_session("w1") is None
        opened = await moves.open_window("w1", "alice", T0)
        assert opened.is_open and opened.clerk == "alice"
        assert await moves.open_window("w1", "alice", T0 + 5) == opened
        with pytest.raises(Conflict, match="open by alice"):
            await moves.open_window("w1", "bob", T0 + 6)
        assert await moves.window_session("w1") == opened
        closed = await moves.close_window("w1", T0 + 10)
        assert closed.closed_ms == T0 + 10 and not closed.is_open
        with pytest.raises(Conflict, match="not open"):
            await moves.close_window("w1", T0 + 11)
        assert (await moves.open_window("w1", "bob", T0 + 12)).clerk == "bob"

    async def test_a_window_never_closes_before_it_opened(self, move_stores: MoveStores) -> None:
        """Two controllers' clocks a little apart: CHECK (closed_at >= opened_at)."""
        opened = await move_stores.moves.open_window("w1", "alice", T0)
        closed = await move_stores.moves.close_window("w1", T0 - 500)
        assert (closed.opened_ms, closed.closed_ms) == (opened.opened_ms, T0)
        assert await move_stores.moves.window_session("w1") is None
