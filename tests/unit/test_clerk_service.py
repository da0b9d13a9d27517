"""The clerk's flow over the memory stores: what a clerk at a window and the displays see."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import pytest

from devices.kinds import DeviceKind
from hall_controller.cases.rules import Case, CompletionOutcome, PersonIdentity
from hall_controller.fleet.model import CommandRecord, CommandStatus, DeviceRecord
from hall_controller.kernel.errors import Conflict, DeviceOffline, NotFound
from hall_controller.queue.clerk import ClerkService, ClerkSettings
from hall_controller.queue.memory_moves import MemoryTicketMoves
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.model import ServiceDef, Ticket, TicketState, WindowDef
from hall_controller.queue.ports import TicketMoveStore, TicketRequest
from hall_controller.queue.rules import CallingPolicy, Outcome, RecallLimitReached
from tests.support.ticket_moves_contract import MoveStores, TicketMovesContract

DAY_MS = 1_764_300_000_000  # 2025-11-28 11:20 Asia/Shanghai
SERVICES = (ServiceDef("student-id", "学生证办理", "A"), ServiceDef("transcript", "成绩单", "B"),
            ServiceDef("dorm", "宿舍事务", "C"))
WINDOWS = (
    WindowDef("w1", 1, {"student-id": 2, "transcript": 1}),
    WindowDef("w2", 2, {"transcript": 2, "student-id": 1}),
    WindowDef("w3", 3, {"dorm": 1}, area="dorm-office"),
)


@dataclass
class Sent:
    device_id: str
    method: str
    params: dict[str, object]
    wait: bool


@dataclass
class Displays:
    """The registry's device list and a command sender that records what displays get."""

    devices: list[DeviceRecord] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)

    def all(self) -> list[DeviceRecord]:
        return list(self.devices)

    async def send(self, device_id: str, method: str, params: dict[str, object],
                   requested_by: str, *, wait: bool = True,
                   timeout_s: float | None = None) -> CommandRecord:
        device = next(d for d in self.devices if d.device_id == device_id)
        if not device.online:
            raise DeviceOffline(device_id)
        self.sent.append(Sent(device_id, method, params, wait))
        return CommandRecord(command_id=str(uuid.uuid4()), device_id=device_id, method=method,
                             params=params, status=CommandStatus.SENT, created_ms=0,
                             expires_at_ms=1, requested_by=requested_by)

    def calls(self, device_id: str) -> list[dict[str, object]]:
        return [s.params for s in self.sent
                if s.device_id == device_id and s.method == "display.call"]


@dataclass
class FakeCaseLinks:
    completed: list[tuple[str, str, CompletionOutcome, str | None]] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)

    async def open_cases_for(self, identity: PersonIdentity, service_code: str) -> list[Case]:
        return []

    async def link_ticket(self, case_id: str, ticket_id: str,
                          ticket_number: str | None = None) -> Case:
        raise NotImplementedError

    async def complete_linked(self, case_id: str, ticket_id: str, outcome: CompletionOutcome,
                              reason: str | None = None) -> Case:
        if case_id in self.missing:
            raise NotFound(case_id)
        self.completed.append((case_id, ticket_id, outcome, reason))
        return None  # type: ignore[return-value]  # the clerk flow ignores the case


class Clock:
    def __init__(self) -> None:
        self.now = DAY_MS

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@dataclass
class Hall:
    tickets: MemoryTicketStore
    moves: MemoryTicketMoves
    clerk: ClerkService
    displays: Displays
    cases: FakeCaseLinks
    clock: Clock

    async def take(self, service: str, *, priority: bool = False, cases: tuple[str, ...] = (),
                   wait_s: float = 1.0) -> Ticket:
        issued = await self.tickets.issue_ticket(TicketRequest(
            ticket_id=str(uuid.uuid4()), service_code=service, service_day="2025-11-28",
            issued_ms=self.clock(), actor="kiosk:k1", priority=priority))
        if cases:  # what the cases engine does at ticket.take
            self.tickets.tickets[issued.ticket.ticket_id].case_ids = list(cases)
        self.clock.advance(wait_s)
        return issued.ticket


@pytest.fixture
async def hall() -> Hall:
    tickets = MemoryTicketStore()
    await tickets.sync_services(SERVICES)
    moves = MemoryTicketMoves(tickets)
    displays = Displays([
        DeviceRecord("display-1", DeviceKind.QUEUE_DISPLAY, site="main-hall", online=True),
        DeviceRecord("display-2", DeviceKind.QUEUE_DISPLAY, site="main-hall", online=False),
        DeviceRecord("display-3", DeviceKind.QUEUE_DISPLAY, site="dorm-office", online=True),
        DeviceRecord("kiosk-1", DeviceKind.KIOSK, site="main-hall", online=True),
    ])
    cases = FakeCaseLinks()
    clock = Clock()
    clerk = ClerkService(tickets, moves, ClerkSettings(
        windows=WINDOWS, services=SERVICES, policy=CallingPolicy(priority_calls=2, normal_calls=1),
        max_recalls=2), devices=displays, commands=displays, cases=cases, clock=clock)
    for window, name in (("w1", "alice"), ("w2", "bob"), ("w3", "carol")):
        await clerk.open_window(window, name)
    return Hall(tickets, moves, clerk, displays, cases, clock)


def test_memory_moves_implement_the_port() -> None:
    assert isinstance(MemoryTicketMoves(MemoryTicketStore()), TicketMoveStore)


async def test_call_next_gets_the_longest_weighted_wait_and_the_displays_announce_it(
        hall: Hall) -> None:
    await hall.take("transcript", wait_s=30)   # B001: waited 40 s, weight 1 at w1 → 40
    a1 = await hall.take("student-id", wait_s=10)  # A001: waited 10 s, weight 2 at w1 → 20
    called = await hall.clerk.call_next("w1", "alice")
    await hall.clerk.drain()

    assert called is not None and called.number == "B001"
    assert called.state is TicketState.CALLED and called.window_id == "w1"
    assert hall.displays.calls("display-1") == [
        {"ticket": "B001", "window": 1, "text": "请 B001 号到 1 号窗口办理", "lang": "zh-CN"}]
    assert hall.displays.calls("display-3") == []  # another area
    assert all(s.device_id != "display-2" for s in hall.displays.sent)  # offline: skipped
    assert all(not s.wait for s in hall.displays.sent)  # a slow display never blocks a clerk
    queue_update = [s.params for s in hall.displays.sent if s.method == "display.queue"]
    assert queue_update[-1]["services"] == [
        {"service": "student-id", "name": "学生证办理", "waiting": 1, "next": [a1.number]},
        {"service": "transcript", "name": "成绩单", "waiting": 0, "next": []}]


async def test_a_window_gets_nothing_when_nobody_waits_for_its_services(hall: Hall) -> None:
    await hall.take("dorm")
    assert await hall.clerk.call_next("w1", "alice") is None


async def test_two_windows_calling_at_once_never_get_the_same_ticket(hall: Hall) -> None:
    for _ in range(10):
        await hall.take("student-id")
    numbers: list[str] = []
    for _ in range(5):
        first, second = await asyncio.gather(hall.clerk.call_next("w1", "alice"),
                                             hall.clerk.call_next("w2", "bob"))
        assert first is not None and second is not None
        numbers += [first.number, second.number]
        await hall.clerk.no_show("w1", "alice")
        await hall.clerk.no_show("w2", "bob")
    assert len(set(numbers)) == 10


async def test_the_loser_of_a_race_chooses_again(hall: Hall) -> None:
    """Another controller takes the chosen ticket between the read and the write."""
    a1 = await hall.take("student-id")
    a2 = await hall.take("student-id")
    real_apply = hall.moves.apply_move
    stolen = False

    async def apply_after_someone_else(moved, expected):  # type: ignore[no-untyped-def]
        nonlocal stolen
        if not stolen:
            stolen = True
            hall.tickets.tickets[moved.ticket.ticket_id].state = TicketState.CALLED
        return await real_apply(moved, expected)

    hall.moves.apply_move = apply_after_someone_else  # type: ignore[method-assign]
    called = await hall.clerk.call_next("w1", "alice")
    assert called is not None and called.ticket_id == a2.ticket_id != a1.ticket_id


async def test_a_window_with_a_called_ticket_cannot_call_another(hall: Hall) -> None:
    await hall.take("student-id")
    await hall.take("student-id")
    await hall.clerk.call_next("w1", "alice")
    with pytest.raises(Conflict, match="already has A001"):
        await hall.clerk.call_next("w1", "alice")


async def test_only_the_clerk_who_opened_the_window_may_use_it(hall: Hall) -> None:
    await hall.take("student-id")
    with pytest.raises(Conflict, match="open by alice"):
        await hall.clerk.call_next("w1", "mallory")
    with pytest.raises(Conflict, match="open by alice"):
        await hall.clerk.open_window("w1", "mallory")
    assert await hall.clerk.call_next("w1", "ada", supervisor=True) is not None


async def test_recall_is_limited_and_suggests_a_no_show(hall: Hall) -> None:
    await hall.take("student-id")
    await hall.clerk.call_next("w1", "alice")
    for expected in (1, 2):
        assert (await hall.clerk.recall("w1", "alice")).recalls == expected
    with pytest.raises(RecallLimitReached, match="no-show") as refused:
        await hall.clerk.recall("w1", "alice")
    assert refused.value.suggestion == "no_show"
    gone = await hall.clerk.no_show("w1", "alice")
    assert gone.state is TicketState.NO_SHOW
    await hall.clerk.drain()
    assert len(hall.displays.calls("display-1")) == 3  # the call and two recalls


async def test_complete_advances_every_linked_case(hall: Hall) -> None:
    ticket = await hall.take("student-id", cases=("case-1", "case-2"))
    await hall.clerk.call_next("w1", "alice")
    await hall.clerk.start("w1", "alice")
    done = await hall.clerk.complete("w1", "alice", Outcome.PENDING_MATERIALS, "photo missing")
    assert done.ticket.state is TicketState.DONE
    assert done.ticket.outcome == "pending_materials"
    assert done.cases_advanced == ["case-1", "case-2"] and done.cases_failed == []
    assert hall.cases.completed == [
        ("case-1", ticket.ticket_id, CompletionOutcome.PENDING_MATERIALS, "photo missing"),
        ("case-2", ticket.ticket_id, CompletionOutcome.PENDING_MATERIALS, "photo missing")]


async def test_a_case_that_cannot_be_advanced_does_not_fail_the_completion(hall: Hall) -> None:
    await hall.take("student-id", cases=("gone", "case-2"))
    hall.cases.missing.add("gone")
    await hall.clerk.call_next("w1", "alice")
    await hall.clerk.start("w1", "alice")
    done = await hall.clerk.complete("w1", "alice", Outcome.RESOLVED)
    assert (done.cases_advanced, done.cases_failed) == (["case-2"], ["gone"])


async def test_pending_materials_needs_a_reason(hall: Hall) -> None:
    await hall.take("student-id")
    await hall.clerk.call_next("w1", "alice")
    await hall.clerk.start("w1", "alice")
    with pytest.raises(Conflict, match="reason"):
        await hall.clerk.complete("w1", "alice", Outcome.PENDING_MATERIALS)


async def test_transfer_keeps_the_arrival_time_and_the_ticket_queues_for_the_new_service(
        hall: Hall) -> None:
    first = await hall.take("student-id", wait_s=60)
    await hall.take("dorm", wait_s=5)   # C001 arrived after A001
    await hall.clerk.call_next("w1", "alice")
    await hall.clerk.start("w1", "alice")
    moved = await hall.clerk.transfer("w1", "alice", "dorm")
    assert moved.state is TicketState.WAITING and moved.service_code == "dorm"
    assert moved.issued_ms == first.issued_ms and moved.number == "A001"
    # The dorm window now gets the transferred visitor first: they arrived earlier.
    called = await hall.clerk.call_next("w3", "carol")
    assert called is not None and called.number == "A001"
    await hall.clerk.drain()
    assert hall.displays.calls("display-3")[-1]["text"] == "请 A001 号到 3 号窗口办理"


async def test_transfer_to_the_back_of_the_queue(hall: Hall) -> None:
    await hall.take("student-id", wait_s=60)
    await hall.clerk.call_next("w1", "alice")
    moved = await hall.clerk.transfer("w1", "alice", "dorm", keep_arrival=False)
    assert moved.issued_ms == hall.clock()


async def test_transfer_to_an_unknown_service_is_refused(hall: Hall) -> None:
    await hall.take("student-id")
    await hall.clerk.call_next("w1", "alice")
    with pytest.raises(NotFound, match="unknown service"):
        await hall.clerk.transfer("w1", "alice", "nope")


async def test_park_and_resume_put_the_ticket_back_near_the_front(hall: Hall) -> None:
    parked_one = await hall.take("student-id")
    await hall.take("student-id")
    await hall.clerk.call_next("w1", "alice")
    await hall.clerk.start("w1", "alice")
    assert (await hall.clerk.park("w1", "alice", "fetching ID")).state is TicketState.PARKED
    status = await hall.clerk.status("w1")
    assert status.current is None and [t.number for t in status.parked] == ["A001"]
    resumed = await hall.clerk.resume("w1", "alice")
    assert resumed.state is TicketState.WAITING and resumed.issued_ms == parked_one.issued_ms
    again = await hall.clerk.call_next("w1", "alice")
    assert again is not None and again.number == "A001"


async def test_green_channel_ratio_at_a_window(hall: Hall) -> None:
    for _ in range(4):
        await hall.take("student-id")
    for _ in range(4):
        await hall.take("student-id", priority=True)
    kinds = []
    for _ in range(6):
        called = await hall.clerk.call_next("w1", "alice")
        assert called is not None
        kinds.append("P" if called.priority else "N")
        await hall.clerk.no_show("w1", "alice")
    assert "".join(kinds) == "PPNPPN"


async def test_window_status_shows_the_current_ticket_with_its_cases_and_the_queue(
        hall: Hall) -> None:
    await hall.take("student-id", cases=("case-9",))
    await hall.take("transcript")
    await hall.clerk.call_next("w1", "alice")
    status = await hall.clerk.status("w1")
    assert status.session is not None and status.session.clerk == "alice"
    assert status.current is not None and status.current.case_ids == ["case-9"]
    assert [t.number for t in status.waiting] == ["B001"]
    assert status.next_up is not None and status.next_up.number == "B001"


async def test_a_window_with_a_ticket_cannot_close(hall: Hall) -> None:
    await hall.take("student-id")
    await hall.clerk.call_next("w1", "alice")
    with pytest.raises(Conflict, match="still has A001"):
        await hall.clerk.close_window("w1", "alice")
    await hall.clerk.no_show("w1", "alice")
    closed = await hall.clerk.close_window("w1", "alice")
    assert closed.closed_ms is not None
    with pytest.raises(Conflict, match="not open"):
        await hall.clerk.call_next("w1", "alice")


async def test_call_specific_for_a_supervisor(hall: Hall) -> None:
    await hall.take("student-id")
    c1 = await hall.take("dorm")
    called = await hall.clerk.call_specific("w1", "ada", c1.ticket_id)
    assert called.number == "C001" and called.window_id == "w1"
    with pytest.raises(Conflict):
        await hall.clerk.call_specific("w2", "ada", c1.ticket_id)


async def test_a_supervisor_takes_over_a_window_parking_its_ticket_with_the_note(
        hall: Hall) -> None:
    await hall.take("student-id")
    await hall.clerk.call_next("w1", "alice")
    await hall.clerk.start("w1", "alice")
    taken = await hall.clerk.take_over("w1", "ada", "alice went home ill")
    assert taken.previous_clerk == "alice"
    assert taken.session is not None and taken.session.clerk == "ada"
    assert taken.parked is not None and taken.parked.state is TicketState.PARKED
    # The visitor is not lost: parked at the window, with who and why in the ticket's history.
    status = await hall.clerk.status("w1")
    assert status.current is None and [t.number for t in status.parked] == ["A001"]
    last = (await hall.tickets.ticket_transitions(taken.parked.ticket_id))[-1]
    assert last.actor == "clerk:ada" and "alice went home ill" in (last.detail or "")
    # alice's terminal is refused from now on; ada works the window and resumes the ticket.
    with pytest.raises(Conflict, match="open by ada"):
        await hall.clerk.call_next("w1", "alice")
    assert (await hall.clerk.resume("w1", "ada")).state is TicketState.WAITING


async def test_taking_over_a_free_window_opens_it(hall: Hall) -> None:
    await hall.clerk.close_window("w2", "bob")
    taken = await hall.clerk.take_over("w2", "ada", "covering lunch")
    assert taken.previous_clerk is None and taken.parked is None
    assert taken.session is not None and taken.session.clerk == "ada"


async def test_a_forced_close_parks_the_ticket_and_frees_the_window(hall: Hall) -> None:
    await hall.take("dorm")
    await hall.clerk.call_next("w3", "carol")
    closed = await hall.clerk.force_close("w3", "ada", "end of day")
    assert closed.session is None and closed.previous_clerk == "carol"
    assert closed.parked is not None and closed.parked.number == "C001"
    assert (await hall.clerk.status("w3")).session is None
    # Free for the next clerk, who finds the parked visitor there.
    await hall.clerk.open_window("w3", "dan")
    assert [t.number for t in (await hall.clerk.status("w3")).parked] == ["C001"]
    await hall.clerk.close_window("w3", "dan")
    with pytest.raises(Conflict, match="not open"):
        await hall.clerk.force_close("w3", "ada", "again")


class TestMemoryTicketMoves(TicketMovesContract):
    @pytest.fixture
    def move_stores(self) -> MoveStores:
        tickets = MemoryTicketStore()

        async def link_case(ticket_id: str, case_id: str) -> None:
            tickets.tickets[ticket_id].case_ids.append(case_id)

        return MoveStores(tickets, MemoryTicketMoves(tickets), link_case)
