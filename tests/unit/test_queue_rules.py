"""Queue rules: what a clerk and a visitor see when tickets move and when a clerk calls next."""

from __future__ import annotations

import pytest

from hall_controller.kernel.errors import Conflict
from hall_controller.queue import rules as queue
from hall_controller.queue.model import (
    Ticket,
    TicketSource,
    TicketState,
    TicketTransition,
    WindowDef,
)
from hall_controller.queue.rules import (
    CallingPolicy,
    InvalidTransition,
    Outcome,
    RecallLimitReached,
    choose_next,
    record_call,
)

MIN = 60_000
T0 = 1_795_827_600_000
CLERK = "clerk:alice"


def ticket(
    number: str = "A001",
    *,
    service: str = "student-id",
    state: TicketState = TicketState.WAITING,
    issued_ms: int = T0,
    priority: bool = False,
    appointment_ms: int | None = None,
) -> Ticket:
    return Ticket(
        ticket_id=f"id-{number}", service_code=service, number=number, seq=int(number[1:]),
        service_day="2026-11-28", state=state, issued_ms=issued_ms, priority=priority,
        appointment_ms=appointment_ms, case_ids=["case-1"],
    )


def called(t: Ticket, at_ms: int = T0 + 5 * MIN) -> Ticket:
    return queue.call(t, window_id="w3", actor=CLERK, now_ms=at_ms).ticket


def serving(t: Ticket) -> Ticket:
    return queue.start(called(t), actor=CLERK, now_ms=T0 + 6 * MIN).ticket


# --- the state machine ------------------------------------------------------------------------


def test_a_ticket_goes_from_waiting_to_done_with_every_step_timestamped() -> None:
    t = ticket()
    c = queue.call(t, window_id="w3", actor=CLERK, now_ms=T0 + 5 * MIN)
    s = queue.start(c.ticket, actor=CLERK, now_ms=T0 + 6 * MIN)
    d = queue.complete(s.ticket, outcome=Outcome.RESOLVED, actor=CLERK, now_ms=T0 + 14 * MIN)

    assert d.ticket.state is TicketState.DONE and d.ticket.outcome == "resolved"
    assert (d.ticket.called_ms, d.ticket.serving_ms, d.ticket.completed_ms) == (
        T0 + 5 * MIN, T0 + 6 * MIN, T0 + 14 * MIN)
    assert [(m.transition.from_state, m.transition.to_state) for m in (c, s, d)] == [
        (TicketState.WAITING, TicketState.CALLED),
        (TicketState.CALLED, TicketState.SERVING),
        (TicketState.SERVING, TicketState.DONE),
    ]
    assert all(m.transition.actor == CLERK and m.transition.window_id == "w3" for m in (c, s, d))
    assert t.state is TicketState.WAITING, "the caller's ticket is not changed behind its back"


def test_pending_materials_outcome_is_kept_with_the_reason() -> None:
    d = queue.complete(serving(ticket()), outcome=Outcome.PENDING_MATERIALS, actor=CLERK,
                       now_ms=T0 + 9 * MIN, detail="missing: photo")
    assert d.ticket.outcome == "pending_materials"
    assert d.transition.detail == "missing: photo"


def test_a_remote_ticket_checks_in_keeping_its_place_or_lapses() -> None:
    remote = ticket(state=TicketState.AWAITING_CHECKIN)
    remote.source = TicketSource.REMOTE
    arrived = queue.check_in(remote, actor="kiosk:kiosk-01", now_ms=T0 + 30 * MIN).ticket
    assert arrived.state is TicketState.WAITING and arrived.issued_ms == T0

    assert queue.lapse(remote, now_ms=T0 + 90 * MIN).ticket.state is TicketState.LAPSED
    with pytest.raises(InvalidTransition):
        queue.lapse(arrived, now_ms=T0 + 90 * MIN)


def test_recall_is_allowed_twice_by_default_then_no_show_is_suggested() -> None:
    t = called(ticket())
    t = queue.recall(t, actor=CLERK, now_ms=T0 + 6 * MIN).ticket
    t = queue.recall(t, actor=CLERK, now_ms=T0 + 7 * MIN).ticket
    assert t.recalls == 2 and t.state is TicketState.CALLED
    assert t.called_ms == T0 + 5 * MIN, "recalls do not count as extra waiting"

    with pytest.raises(RecallLimitReached) as refused:
        queue.recall(t, actor=CLERK, now_ms=T0 + 8 * MIN)
    assert refused.value.suggestion == "no_show"
    assert "no-show" in str(refused.value)

    gone = queue.no_show(t, actor=CLERK, now_ms=T0 + 8 * MIN)
    assert gone.ticket.state is TicketState.NO_SHOW


def test_the_recall_limit_is_configurable() -> None:
    t = called(ticket())
    with pytest.raises(RecallLimitReached):
        queue.recall(t, actor=CLERK, now_ms=T0, max_recalls=0)
    for _ in range(4):
        t = queue.recall(t, actor=CLERK, now_ms=T0, max_recalls=4).ticket
    assert t.recalls == 4


def test_park_and_resume_puts_the_visitor_back_at_their_original_place() -> None:
    parked = queue.park(serving(ticket()), actor=CLERK, now_ms=T0 + 8 * MIN,
                        detail="fetching the ID card").ticket
    assert parked.state is TicketState.PARKED
    back = queue.resume(parked, actor=CLERK, now_ms=T0 + 20 * MIN).ticket
    assert back.state is TicketState.WAITING and back.issued_ms == T0
    assert back.window_id is None and back.called_ms is None

    # Back in the queue, it is ahead of someone who arrived after it.
    later = ticket("A002", issued_ms=T0 + 1 * MIN)
    window = WindowDef("w1", 1, {"student-id": 1})
    assert choose_next(window, [later, back], T0 + 21 * MIN, CallingPolicy()) is back


def test_transfer_keeps_the_arrival_time_unless_told_to_requeue_at_the_back() -> None:
    t = serving(ticket())
    moved = queue.transfer(t, to_service="dorm", actor=CLERK, now_ms=T0 + 30 * MIN)
    assert moved.ticket.state is TicketState.WAITING and moved.ticket.service_code == "dorm"
    assert moved.ticket.issued_ms == T0 and moved.ticket.number == "A001"
    assert moved.transition.detail == "student-id -> dorm"

    back = queue.transfer(t, to_service="dorm", actor=CLERK, now_ms=T0 + 30 * MIN,
                          requeue_at_back=True)
    assert back.ticket.issued_ms == T0 + 30 * MIN

    with pytest.raises(InvalidTransition):
        queue.transfer(t, to_service="student-id", actor=CLERK, now_ms=T0)


def test_cancel_is_possible_until_serving_starts() -> None:
    for state in (TicketState.WAITING, TicketState.AWAITING_CHECKIN, TicketState.PARKED):
        assert queue.cancel(ticket(state=state), actor="system", now_ms=T0).ticket.state \
            is TicketState.CANCELLED
    assert queue.cancel(called(ticket()), actor=CLERK, now_ms=T0).ticket.state is TicketState.CANCELLED
    with pytest.raises(InvalidTransition):
        queue.cancel(serving(ticket()), actor=CLERK, now_ms=T0)


@pytest.mark.parametrize(
    ("state", "move"),
    [
        (TicketState.WAITING, lambda t: queue.start(t, actor=CLERK, now_ms=T0)),
        (TicketState.WAITING, lambda t: queue.complete(t, outcome=Outcome.RESOLVED, actor=CLERK,
                                                       now_ms=T0)),
        (TicketState.DONE, lambda t: queue.call(t, window_id="w1", actor=CLERK, now_ms=T0)),
        (TicketState.CALLED, lambda t: queue.call(t, window_id="w1", actor=CLERK, now_ms=T0)),
        (TicketState.AWAITING_CHECKIN, lambda t: queue.call(t, window_id="w1", actor=CLERK,
                                                            now_ms=T0)),
        (TicketState.WAITING, lambda t: queue.no_show(t, actor=CLERK, now_ms=T0)),
        (TicketState.WAITING, lambda t: queue.park(t, actor=CLERK, now_ms=T0)),
        (TicketState.WAITING, lambda t: queue.resume(t, actor=CLERK, now_ms=T0)),
        (TicketState.NO_SHOW, lambda t: queue.transfer(t, to_service="dorm", actor=CLERK, now_ms=T0)),
        (TicketState.DONE, lambda t: queue.cancel(t, actor=CLERK, now_ms=T0)),
        (TicketState.WAITING, lambda t: queue.check_in(t, actor=CLERK, now_ms=T0)),
    ],
)
def test_illegal_moves_are_refused_with_a_conflict_naming_the_ticket(
    state: TicketState, move: object,
) -> None:
    t = ticket("A012", state=state)
    assert callable(move)
    with pytest.raises(InvalidTransition) as refused:
        move(t)
    assert isinstance(refused.value, Conflict)
    assert "A012" in str(refused.value) and state.value in str(refused.value)


# --- calling next -----------------------------------------------------------------------------

POLICY = CallingPolicy(appointment_early_ms=5 * MIN, priority_calls=1, normal_calls=2)
WINDOW = WindowDef("w1", 1, {"student-id": 1})


def test_nobody_waiting_means_nobody_is_called() -> None:
    assert choose_next(WINDOW, [], T0, POLICY) is None
    # Tickets of services the window does not serve, or not waiting, are not its business.
    others = [ticket("B001", service="dorm"), ticket("A001", state=TicketState.CALLED)]
    assert choose_next(WINDOW, others, T0, POLICY) is None


def test_the_longest_waiting_visitor_comes_first() -> None:
    waiting = [ticket("A003", issued_ms=T0 + 3 * MIN), ticket("A001", issued_ms=T0),
               ticket("A002", issued_ms=T0 + 1 * MIN)]
    assert choose_next(WINDOW, waiting, T0 + 10 * MIN, POLICY) is waiting[1]


def test_a_due_appointment_goes_before_walk_ins_and_in_booked_order() -> None:
    walk_in = ticket("A001", issued_ms=T0)
    late_booking = ticket("A007", issued_ms=T0 + 1 * MIN, appointment_ms=T0 + 32 * MIN)
    early_booking = ticket("A008", issued_ms=T0 + 2 * MIN, appointment_ms=T0 + 30 * MIN)
    waiting = [walk_in, late_booking, early_booking]

    # 20 minutes before the slots nobody is due: the walk-in comes.
    assert choose_next(WINDOW, waiting, T0 + 10 * MIN, POLICY) is walk_in
    # Within the early window (5 min) the earliest booked slot comes first.
    assert choose_next(WINDOW, waiting, T0 + 26 * MIN, POLICY) is early_booking
    assert choose_next(WINDOW, [walk_in, late_booking], T0 + 27 * MIN, POLICY) is late_booking


def test_an_early_appointment_waits_for_its_slot_unless_idle_clerks_may_serve_it() -> None:
    early = ticket("A007", appointment_ms=T0 + 60 * MIN)
    assert choose_next(WINDOW, [early], T0, POLICY) is None
    relaxed = CallingPolicy(serve_early_appointments=True)
    assert choose_next(WINDOW, [early], T0, relaxed) is early
    # Even then, a waiting walk-in goes first: the early visitor has a slot to come back to.
    assert choose_next(WINDOW, [early, ticket("A001")], T0, relaxed) is not early


def test_priority_ratio_one_green_channel_call_for_every_two_normal() -> None:
    waiting = [ticket(f"A{n:03d}", issued_ms=T0 + n * 1000) for n in range(1, 20)]
    waiting += [ticket(f"A{n:03d}", issued_ms=T0 + n * 1000, priority=True) for n in range(20, 40)]
    history: list[bool] = []
    order = []
    for minute in range(9):
        now = T0 + (10 + minute) * MIN
        chosen = choose_next(WINDOW, waiting, now, POLICY, history)
        assert chosen is not None
        waiting.remove(chosen)
        history = record_call(history, chosen, now, POLICY)
        order.append("P" if chosen.priority else "N")
    # Priority preferred up to its share, normal never starved: P N N P N N ...
    assert "".join(order) == "PNNPNNPNN"


def test_priority_preferred_by_default_two_to_one() -> None:
    policy = CallingPolicy()
    waiting = [ticket(f"A{n:03d}", issued_ms=T0 + n * 1000, priority=n % 2 == 0) for n in range(1, 30)]
    history: list[bool] = []
    order = ""
    for _ in range(9):
        chosen = choose_next(WINDOW, waiting, T0 + 60 * MIN, policy, history)
        assert chosen is not None
        waiting.remove(chosen)
        history = record_call(history, chosen, T0 + 60 * MIN, policy)
        order += "P" if chosen.priority else "N"
    assert order == "PPNPPNPPN"


def test_only_one_kind_waiting_is_called_regardless_of_the_ratio() -> None:
    only_priority = [ticket("A005", priority=True), ticket("A006", priority=True)]
    assert choose_next(WINDOW, only_priority, T0, POLICY, [True, True]) is only_priority[0]
    only_normal = [ticket("A001"), ticket("A002")]
    assert choose_next(WINDOW, only_normal, T0, POLICY, [False, False]) is only_normal[0]


def test_appointment_calls_do_not_use_up_the_ratio() -> None:
    appointment = ticket("A009", appointment_ms=T0)
    assert record_call([True, False], appointment, T0, POLICY) == [True, False]
    assert record_call([True, False], ticket("A001"), T0, POLICY) == [False, False]


def test_skills_weight_multiplies_the_time_waited() -> None:
    # Window 2 serves student IDs with weight 3 and dorm matters with weight 1.
    window = WindowDef("w2", 2, {"student-id": 3, "dorm": 1})
    dorm = ticket("B001", service="dorm", issued_ms=T0)            # waited 20 min → counts 20
    student = ticket("A001", issued_ms=T0 + 12 * MIN)              # waited 8 min → counts 24
    assert choose_next(window, [dorm, student], T0 + 20 * MIN, POLICY) is student
    # Once the dorm visitor has waited more than 3x as long, they come first: no starvation.
    fresh_student = ticket("A002", issued_ms=T0 + 14 * MIN)        # waited 6 min → counts 18
    assert choose_next(window, [dorm, fresh_student], T0 + 20 * MIN, POLICY) is dorm


def test_a_window_only_calls_services_it_has_skills_for() -> None:
    window = WindowDef("w4", 4, {"dorm": 1})
    chosen = choose_next(window, [ticket("A001"), ticket("B002", service="dorm", issued_ms=T0 + MIN)],
                         T0 + 5 * MIN, POLICY)
    assert chosen is not None and chosen.number == "B002"


def test_bad_policy_or_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CallingPolicy(priority_calls=0)
    with pytest.raises(ValueError, match="weight"):
        choose_next(WindowDef("w9", 9, {"student-id": 0}), [ticket()], T0, POLICY)


# --- what the ticket history records and what a refused move says -----------------------------

W, C, P, X = TicketState.WAITING, TicketState.CALLED, TicketState.PARKED, TicketState.CANCELLED


def test_every_move_is_recorded_with_who_when_where_and_why() -> None:
    t = ticket("A004")
    c = queue.call(t, window_id="w3", actor=CLERK, now_ms=T0 + 5 * MIN)
    r = queue.recall(c.ticket, actor=CLERK, now_ms=T0 + 6 * MIN)
    p = queue.park(r.ticket, actor="clerk:bob", now_ms=T0 + 7 * MIN, detail="fetching the ID card")
    b = queue.resume(p.ticket, actor="clerk:bob", now_ms=T0 + 9 * MIN)
    m = queue.transfer(b.ticket, to_service="dorm", actor="supervisor:li", now_ms=T0 + 10 * MIN)
    x = queue.cancel(m.ticket, actor="kiosk:kiosk-01", now_ms=T0 + 11 * MIN, detail="changed mind")
    assert [mv.transition for mv in (c, r, p, b, m, x)] == [
        TicketTransition("id-A004", W, C, T0 + 5 * MIN, CLERK, "w3", None),
        TicketTransition("id-A004", C, C, T0 + 6 * MIN, CLERK, "w3", "recall 1"),
        TicketTransition("id-A004", C, P, T0 + 7 * MIN, "clerk:bob", "w3", "fetching the ID card"),
        TicketTransition("id-A004", P, W, T0 + 9 * MIN, "clerk:bob", "w3", None),
        TicketTransition("id-A004", W, W, T0 + 10 * MIN, "supervisor:li", None, "student-id -> dorm"),
        TicketTransition("id-A004", W, X, T0 + 11 * MIN, "kiosk:kiosk-01", None, "changed mind"),
    ]
    assert x.ticket.completed_ms == T0 + 11 * MIN


def test_serving_moves_are_recorded_with_their_time_and_actor() -> None:
    s = queue.start(called(ticket()), actor="clerk:bob", now_ms=T0 + 6 * MIN)
    d = queue.complete(s.ticket, outcome=Outcome.RESOLVED, actor="clerk:bob", now_ms=T0 + 9 * MIN)
    gone = queue.no_show(called(ticket("A002")), actor=CLERK, now_ms=T0 + 8 * MIN)
    assert (s.transition.at_ms, s.transition.actor) == (T0 + 6 * MIN, "clerk:bob")
    assert (d.transition.at_ms, d.transition.actor) == (T0 + 9 * MIN, "clerk:bob")
    assert (gone.transition.at_ms, gone.transition.actor) == (T0 + 8 * MIN, CLERK)
    assert gone.ticket.completed_ms == T0 + 8 * MIN


def test_a_remote_ticket_checks_in_or_lapses_on_the_record() -> None:
    remote = ticket(state=TicketState.AWAITING_CHECKIN)
    arrived = queue.check_in(remote, actor="kiosk:kiosk-01", now_ms=T0 + 30 * MIN)
    assert (arrived.transition.at_ms, arrived.transition.actor) == (T0 + 30 * MIN, "kiosk:kiosk-01")
    lapsed = queue.lapse(remote, now_ms=T0 + 90 * MIN)
    assert lapsed.transition == TicketTransition(
        "id-A001", TicketState.AWAITING_CHECKIN, TicketState.LAPSED, T0 + 90 * MIN, "system")
    assert lapsed.ticket.completed_ms == T0 + 90 * MIN
    assert queue.lapse(remote, actor="supervisor:li", now_ms=T0).transition.actor == "supervisor:li"


def test_a_moved_ticket_keeps_its_linked_cases_as_its_own_copy() -> None:
    t = ticket()
    moved = queue.call(t, window_id="w3", actor=CLERK, now_ms=T0).ticket
    assert moved.case_ids == ["case-1"]
    moved.case_ids.append("case-2")
    assert t.case_ids == ["case-1"], "the caller's ticket is not changed behind its back"


def test_a_ticket_back_in_the_queue_starts_afresh_at_its_next_call() -> None:
    t = called(ticket())
    t = queue.recall(t, actor=CLERK, now_ms=T0 + 6 * MIN).ticket
    t = queue.start(t, actor=CLERK, now_ms=T0 + 7 * MIN).ticket
    for back in (queue.transfer(t, to_service="dorm", actor=CLERK, now_ms=T0 + 8 * MIN).ticket,
                 queue.resume(queue.park(t, actor=CLERK, now_ms=T0 + 8 * MIN).ticket, actor=CLERK,
                              now_ms=T0 + 9 * MIN).ticket):
        assert (back.window_id, back.called_ms, back.serving_ms, back.recalls) == (None, None, None, 0)
        again = queue.call(back, window_id="w5", actor=CLERK, now_ms=T0 + 20 * MIN).ticket
        assert (again.window_id, again.called_ms, again.serving_ms, again.recalls) == (
            "w5", T0 + 20 * MIN, None, 0)
        # The full two recalls are available again.
        for _ in range(2):
            again = queue.recall(again, actor=CLERK, now_ms=T0 + 21 * MIN).ticket


@pytest.mark.parametrize(
    ("state", "move", "message"),
    [
        (TicketState.WAITING, lambda t: queue.check_in(t, actor=CLERK, now_ms=T0), "cannot check in"),
        (TicketState.WAITING, lambda t: queue.lapse(t, now_ms=T0), "cannot lapse"),
        (TicketState.CALLED, lambda t: queue.call(t, window_id="w1", actor=CLERK, now_ms=T0),
         "cannot call"),
        (TicketState.WAITING, lambda t: queue.recall(t, actor=CLERK, now_ms=T0), "cannot recall"),
        (TicketState.WAITING, lambda t: queue.no_show(t, actor=CLERK, now_ms=T0),
         "cannot mark as no-show"),
        (TicketState.WAITING, lambda t: queue.start(t, actor=CLERK, now_ms=T0), "cannot start serving"),
        (TicketState.CALLED, lambda t: queue.complete(t, outcome=Outcome.RESOLVED, actor=CLERK,
                                                      now_ms=T0), "cannot complete"),
        (TicketState.WAITING, lambda t: queue.park(t, actor=CLERK, now_ms=T0), "cannot park"),
        (TicketState.CALLED, lambda t: queue.resume(t, actor=CLERK, now_ms=T0), "cannot resume"),
        (TicketState.DONE, lambda t: queue.transfer(t, to_service="dorm", actor=CLERK, now_ms=T0),
         "cannot transfer"),
        (TicketState.SERVING, lambda t: queue.cancel(t, actor=CLERK, now_ms=T0), "cannot cancel"),
    ],
)
def test_the_clerk_is_told_which_move_the_ticket_state_refuses(
    state: TicketState, move: object, message: str,
) -> None:
    assert callable(move)
    with pytest.raises(InvalidTransition) as refused:
        move(ticket("A012", state=state))
    assert str(refused.value) == f"ticket A012: {message} a ticket that is {state.value}"


def test_a_refused_recall_or_transfer_says_why() -> None:
    t = called(ticket("A012"))
    with pytest.raises(RecallLimitReached) as refused:
        queue.recall(t, actor=CLERK, now_ms=T0, max_recalls=0)
    assert str(refused.value) == (
        "ticket A012: already recalled 0 times (limit 0); mark it as a no-show")
    with pytest.raises(InvalidTransition) as same:
        queue.transfer(t, to_service="student-id", actor=CLERK, now_ms=T0)
    assert str(same.value) == "ticket A012: already in the queue of student-id"


def test_the_calling_policy_takes_the_smallest_settings_and_refuses_less() -> None:
    strict = CallingPolicy(appointment_early_ms=0, priority_calls=1, normal_calls=1)
    booked = ticket("A007", appointment_ms=T0 + 10 * MIN)
    assert choose_next(WINDOW, [booked, ticket("A001")], T0 + 9 * MIN, strict) is not booked
    assert choose_next(WINDOW, [booked, ticket("A001")], T0 + 10 * MIN, strict) is booked
    for bad, message in [({"priority_calls": 0}, "priority_calls and normal_calls must both be at least 1"),
                         ({"normal_calls": 0}, "priority_calls and normal_calls must both be at least 1"),
                         ({"appointment_early_ms": -1}, "appointment_early_ms must not be negative")]:
        with pytest.raises(ValueError) as refused:
            CallingPolicy(**bad)  # type: ignore[arg-type]
        assert str(refused.value) == message


def test_equal_weighted_waits_go_to_the_earlier_arrival_then_the_lower_number() -> None:
    window = WindowDef("w2", 2, {"student-id": 2, "dorm": 1})
    dorm = ticket("B009", service="dorm", issued_ms=T0)          # 10 min × 1
    student = ticket("A001", issued_ms=T0 + 5 * MIN)             # 5 min × 2
    assert choose_next(window, [student, dorm], T0 + 10 * MIN, POLICY) is dorm
    # Two visitors who took their tickets this very moment: number order, whatever the weights.
    now = T0 + 30 * MIN
    fresh_dorm = ticket("B003", service="dorm", issued_ms=now)
    fresh_student = ticket("A004", issued_ms=now)
    assert choose_next(window, [fresh_student, fresh_dorm], now, POLICY) is fresh_dorm


def test_several_due_appointments_come_in_booked_then_arrival_order() -> None:
    nine = ticket("A020", issued_ms=T0 + 3 * MIN, appointment_ms=T0 + 30 * MIN)
    half_past_eight = ticket("A021", issued_ms=T0 + 4 * MIN, appointment_ms=T0 + 28 * MIN)
    nine_early_bird = ticket("A022", issued_ms=T0 + 1 * MIN, appointment_ms=T0 + 30 * MIN)
    waiting = [nine, half_past_eight, nine_early_bird]
    assert choose_next(WINDOW, waiting, T0 + 29 * MIN, POLICY) is half_past_eight
    assert choose_next(WINDOW, [nine, nine_early_bird], T0 + 29 * MIN, POLICY) is nine_early_bird


def test_an_idle_clerk_serves_the_earliest_booked_of_the_early_appointments() -> None:
    relaxed = CallingPolicy(serve_early_appointments=True)
    later_slot = ticket("A030", issued_ms=T0, appointment_ms=T0 + 90 * MIN)
    earlier_slot = ticket("A031", issued_ms=T0 + 2 * MIN, appointment_ms=T0 + 60 * MIN)
    assert choose_next(WINDOW, [later_slot, earlier_slot], T0 + 5 * MIN, relaxed) is earlier_slot
