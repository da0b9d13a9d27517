"""Queue rules: the ticket state machine and the calling policy ("who comes when a clerk calls next").

Pure functions over the records of ``queue.model``: no I/O, no clock, no database.  Every move
takes the current ``Ticket`` and returns a ``Moved`` (the updated copy and the ``TicketTransition``
to store); an illegal move raises ``InvalidTransition`` and leaves the ticket untouched.

State machine::

    awaiting_checkin --check_in--> waiting --call--> called --start--> serving --complete--> done
    awaiting_checkin --lapse--> lapsed          called --recall--> called (at most max_recalls)
    called --no_show--> no_show                 serving|called --park--> parked --resume--> waiting
    serving|called|waiting --transfer--> waiting (another service)
    waiting|awaiting_checkin|called|parked --cancel--> cancelled

Calling policy (``choose_next``), among the services the window serves:

1. appointments that are due (booked time minus ``appointment_early_ms`` has passed), earliest
   booked first;
2. walk-ins, with the green-channel ratio: while both priority and normal tickets wait, the calls
   follow the pattern ``priority_calls`` priority, then ``normal_calls`` normal, so normal tickets
   are never starved; the state is the caller's recent call history (``record_call``);
3. within the chosen class, the highest *weighted wait*: ``weight × (now − issued_ms)``.  A window
   prefers the services it has a higher weight for, but a lower-weight ticket that has waited
   long enough still wins (weight 2 means "one minute waited counts as two"), so skills routing
   never starves a service.  Ties go to the earlier ticket;
4. only if ``serve_early_appointments`` is on and nothing else waits: appointments not due yet,
   earliest booked first (an idle clerk serves an early visitor rather than doing nothing).  Off
   by default, because it breaks the promise that appointments are served in booked order: a
   later slot could be served before an earlier one whose visitor has not arrived yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict
from hall_controller.queue.model import (
    Ticket,
    TicketSource,
    TicketState,
    TicketTransition,
    WindowDef,
)

DEFAULT_MAX_RECALLS = 2


class InvalidTransition(Conflict):
    """A move the ticket's current state does not allow (e.g. starting a ticket nobody called)."""

    default_code = ErrorCode.TICKET_INVALID_MOVE

    def __init__(self, ticket: Ticket, move: str, reason: str | None = None, *,
                 code: ErrorCode | None = None, **params: str) -> None:
        self.ticket_id = ticket.ticket_id
        self.number = ticket.number
        self.state = ticket.state
        self.move = move
        text = reason or f"cannot {move} a ticket that is {ticket.state.value}"
        super().__init__(f"ticket {ticket.number}: {text}", code=code or self.default_code,
                         ticket=ticket.number, move=move, state=ticket.state.value, **params)


class RecallLimitReached(InvalidTransition):
    """The ticket was already recalled ``max_recalls`` times; mark it as a no-show instead."""

    suggestion = "no_show"
    default_code = ErrorCode.TICKET_RECALL_LIMIT


class Outcome(StrEnum):
    """How a served ticket ended (``Ticket.outcome``)."""

    RESOLVED = "resolved"
    PENDING_MATERIALS = "pending_materials"


class Moved(NamedTuple):
    """The result of a move: the updated ticket and the transition to record."""

    ticket: Ticket
    transition: TicketTransition


def _require(ticket: Ticket, move: str, allowed: Iterable[TicketState]) -> None:
    if ticket.state not in frozenset(allowed):
        raise InvalidTransition(ticket, move)


def _copy(ticket: Ticket, to_state: TicketState) -> Ticket:
    # A copy, so the caller's ticket stays as it was if storing the move fails.
    return dataclasses.replace(ticket, state=to_state, case_ids=list(ticket.case_ids))


def _moved(
    before: Ticket, after: Ticket, *, actor: str, now_ms: int, detail: str | None = None,
) -> Moved:
    transition = TicketTransition(
        ticket_id=before.ticket_id,
        from_state=before.state,
        to_state=after.state,
        at_ms=now_ms,
        actor=actor,
        window_id=before.window_id or after.window_id,
        detail=detail,
    )
    return Moved(after, transition)


def check_in(ticket: Ticket, *, actor: str, now_ms: int) -> Moved:
    """A remotely taken ticket's visitor arrived: it joins the queue at its original issue time."""
    _require(ticket, "check in", {TicketState.AWAITING_CHECKIN})
    return _moved(ticket, _copy(ticket, TicketState.WAITING), actor=actor, now_ms=now_ms)


def lapse(ticket: Ticket, *, actor: str = "system", now_ms: int) -> Moved:
    """A remote ticket was not checked in within its window."""
    _require(ticket, "lapse", {TicketState.AWAITING_CHECKIN})
    after = _copy(ticket, TicketState.LAPSED)
    after.completed_ms = now_ms
    return _moved(ticket, after, actor=actor, now_ms=now_ms)


def call(ticket: Ticket, *, window_id: str, actor: str, now_ms: int) -> Moved:
    """Call a waiting ticket to a window (also used by a supervisor to call a specific ticket)."""
    _require(ticket, "call", {TicketState.WAITING})
    after = _copy(ticket, TicketState.CALLED)
    after.window_id = window_id
    after.called_ms = now_ms
    after.serving_ms = None
    after.recalls = 0
    return _moved(ticket, after, actor=actor, now_ms=now_ms)


def recall(ticket: Ticket, *, actor: str, now_ms: int, max_recalls: int = DEFAULT_MAX_RECALLS) -> Moved:
    """Announce a called ticket again; refused with ``RecallLimitReached`` after ``max_recalls``.

    ``called_ms`` keeps the first call, so the waiting time is not stretched by recalls.
    """
    _require(ticket, "recall", {TicketState.CALLED})
    if ticket.recalls >= max_recalls:
        raise RecallLimitReached(
            ticket, "recall",
            f"already recalled {ticket.recalls} times (limit {max_recalls}); mark it as a no-show",
        )
    after = _copy(ticket, TicketState.CALLED)
    after.recalls = ticket.recalls + 1
    return _moved(ticket, after, actor=actor, now_ms=now_ms, detail=f"recall {after.recalls}")


def no_show(ticket: Ticket, *, actor: str, now_ms: int) -> Moved:
    """The called visitor did not come to the window."""
    _require(ticket, "mark as no-show", {TicketState.CALLED})
    after = _copy(ticket, TicketState.NO_SHOW)
    after.completed_ms = now_ms
    return _moved(ticket, after, actor=actor, now_ms=now_ms)


def start(ticket: Ticket, *, actor: str, now_ms: int) -> Moved:
    """The visitor arrived at the window and the clerk starts serving."""
    _require(ticket, "start serving", {TicketState.CALLED})
    after = _copy(ticket, TicketState.SERVING)
    after.serving_ms = now_ms
    return _moved(ticket, after, actor=actor, now_ms=now_ms)


def complete(
    ticket: Ticket, *, outcome: Outcome, actor: str, now_ms: int, detail: str | None = None,
) -> Moved:
    """Finish serving: resolved, or pending materials (``detail`` says which are missing)."""
    _require(ticket, "complete", {TicketState.SERVING})
    after = _copy(ticket, TicketState.DONE)
    after.completed_ms = now_ms
    after.outcome = outcome.value
    return _moved(ticket, after, actor=actor, now_ms=now_ms, detail=detail)


def park(ticket: Ticket, *, actor: str, now_ms: int, detail: str | None = None) -> Moved:
    """Set a called or served ticket aside (e.g. the visitor fetches a document)."""
    _require(ticket, "park", {TicketState.SERVING, TicketState.CALLED})
    return _moved(ticket, _copy(ticket, TicketState.PARKED), actor=actor, now_ms=now_ms, detail=detail)


def _back_in_queue(ticket: Ticket) -> Ticket:
    after = _copy(ticket, TicketState.WAITING)
    after.window_id = None
    after.called_ms = None
    after.serving_ms = None
    after.recalls = 0
    return after


def resume(ticket: Ticket, *, actor: str, now_ms: int) -> Moved:
    """A parked ticket goes back into the queue; it keeps ``issued_ms``, so it is near the front."""
    _require(ticket, "resume", {TicketState.PARKED})
    return _moved(ticket, _back_in_queue(ticket), actor=actor, now_ms=now_ms)


def transfer(
    ticket: Ticket,
    *,
    to_service: str,
    actor: str,
    now_ms: int,
    requeue_at_back: bool = False,
) -> Moved:
    """Send a ticket to another service's queue.

    By default it keeps its original arrival time (the visitor already waited once); with
    ``requeue_at_back`` it queues as if it had just arrived.  The number stays the same, since
    it is printed on the visitor's slip.
    """
    _require(ticket, "transfer", {TicketState.SERVING, TicketState.CALLED, TicketState.WAITING})
    if to_service == ticket.service_code:
        raise InvalidTransition(ticket, "transfer", f"already in the queue of {to_service}",
                                code=ErrorCode.TICKET_ALREADY_IN_SERVICE, service=to_service)
    after = _back_in_queue(ticket)
    after.service_code = to_service
    if requeue_at_back:
        after.issued_ms = now_ms
    return _moved(ticket, after, actor=actor, now_ms=now_ms,
                  detail=f"{ticket.service_code} -> {to_service}")


def cancel(ticket: Ticket, *, actor: str, now_ms: int, detail: str | None = None) -> Moved:
    """The visitor or staff withdraws a ticket that is not being served."""
    _require(
        ticket, "cancel",
        {TicketState.WAITING, TicketState.AWAITING_CHECKIN, TicketState.CALLED, TicketState.PARKED},
    )
    after = _copy(ticket, TicketState.CANCELLED)
    after.completed_ms = now_ms
    return _moved(ticket, after, actor=actor, now_ms=now_ms, detail=detail)


# ---------------------------------------------------------------------------------------------
# Calling policy


@dataclass(frozen=True, slots=True)
class CallingPolicy:
    """How "call next" chooses (see the module docstring for the order of the rules)."""

    appointment_early_ms: int = 5 * 60_000  # an appointment is due this long before its booked time
    priority_calls: int = 2   # while both kinds wait: this many green-channel calls ...
    normal_calls: int = 1     # ... then this many normal calls, and again
    serve_early_appointments: bool = False  # an idle window may call an appointment before it is due

    def __post_init__(self) -> None:
        if self.priority_calls < 1 or self.normal_calls < 1:
            raise ValueError("priority_calls and normal_calls must both be at least 1")
        if self.appointment_early_ms < 0:
            raise ValueError("appointment_early_ms must not be negative")

    @property
    def history_length(self) -> int:
        """How many recent calls the ratio looks at (and ``record_call`` keeps)."""
        # A sliding window one shorter than the cycle: "priority while fewer than priority_calls
        # of the last P+N-1 calls were priority" repeats exactly P priority, N normal.
        return self.priority_calls + self.normal_calls - 1


def appointment_due(ticket: Ticket, now_ms: int, policy: CallingPolicy) -> bool:
    """Whether a ticket's appointment is due, so it goes before walk-ins."""
    return (ticket.appointment_ms is not None
            and now_ms >= ticket.appointment_ms - policy.appointment_early_ms)


def _weighted_wait_key(window: WindowDef, now_ms: int) -> Callable[[Ticket], tuple[int, int, int]]:
    def key(ticket: Ticket) -> tuple[int, int, int]:
        weight = window.services[ticket.service_code]
        # Max over the weighted wait, then the earliest arrival and the lowest number break ties
        # (negated, because the caller takes the maximum).
        return (weight * max(0, now_ms - ticket.issued_ms), -ticket.issued_ms, -ticket.seq)
    return key


def _priority_turn(recent_calls: Sequence[bool], policy: CallingPolicy) -> bool:
    last = recent_calls[-policy.history_length:]
    return sum(1 for was_priority in last if was_priority) < policy.priority_calls


def choose_next(
    window: WindowDef,
    waiting: Sequence[Ticket],
    now_ms: int,
    policy: CallingPolicy,
    recent_calls: Sequence[bool] = (),
) -> Ticket | None:
    """The ticket a clerk at ``window`` gets on "call next", or None if nobody waits for it.

    ``waiting``: the tickets of the hall (any state; only WAITING ones of the window's services
    count).  ``recent_calls``: the ratio's history, oldest first, as kept by ``record_call``
    (one per window or one for the hall: the caller decides whose share the ratio governs).
    """
    for code, weight in window.services.items():
        if weight < 1:
            raise ValueError(f"window {window.window_id}: weight of {code} must be at least 1")
    candidates = [t for t in waiting
                  if t.state is TicketState.WAITING and t.service_code in window.services]
    if not candidates:
        return None

    due = [t for t in candidates if appointment_due(t, now_ms, policy)]
    if due:
        return min(due, key=lambda t: (t.appointment_ms, t.issued_ms, t.seq))

    walk_ins = [t for t in candidates if t.appointment_ms is None]
    if walk_ins:
        priority = [t for t in walk_ins if t.priority]
        normal = [t for t in walk_ins if not t.priority]
        if priority and normal:
            pool = priority if _priority_turn(recent_calls, policy) else normal
        else:
            pool = priority or normal
        return max(pool, key=_weighted_wait_key(window, now_ms))

    if policy.serve_early_appointments:
        # Only early appointments left: serve the earliest booked rather than leave the clerk idle.
        return min(candidates, key=lambda t: (t.appointment_ms or 0, t.issued_ms, t.seq))
    return None


def record_call(
    recent_calls: Sequence[bool], called: Ticket, now_ms: int, policy: CallingPolicy,
) -> list[bool]:
    """The ratio history after ``called`` was called at ``now_ms`` (a new, bounded list).

    Appointment calls are not walk-in calls, so they do not use up either kind's share.
    """
    if called.appointment_ms is not None:
        return list(recent_calls[-policy.history_length:])
    history = [*recent_calls, called.priority]
    return history[-policy.history_length:]


def ticket_number(prefix: str, seq: int, last_number: int) -> str:
    """"A" + 12 → "A012": zero-padded to the width of the range's last number (at least 3)."""
    return f"{prefix}{seq:0{max(3, len(str(last_number)))}d}"


# Open tickets of an earlier service day are closed by the rollover. SERVING is not among
# them: a clerk is with the visitor, and the clerk's complete closes it.
ROLLOVER_STATES = frozenset({TicketState.WAITING, TicketState.CALLED, TicketState.PARKED,
                             TicketState.AWAITING_CHECKIN})


def initial_state(source: TicketSource) -> TicketState:
    """The state a newly issued ticket starts in: a remote one waits for its visitor's
    check-in before it queues (it must not be called while the visitor is still at home)."""
    return TicketState.AWAITING_CHECKIN if source is TicketSource.REMOTE else TicketState.WAITING
