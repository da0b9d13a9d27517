"""The clerk's side of the queue: windows, calling, serving, completing.

Every move is a pure function of ``queue/rules.py`` applied to the ticket as stored, then
written with ``TicketMoveStore.apply_move`` guarded by the state it started from. Two windows
(or two controllers) calling at once therefore never get the same ticket: the loser gets
``MoveConflict`` and ``call_next`` chooses again without that ticket.

Displays are told after the move is stored, by the service's ``DisplayAnnouncer``
(``queue/displays.py``), in the background: a slow or offline display never holds up the clerk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from zoneinfo import ZoneInfo

from devices.contract import now_ms
from hall_controller.cases.ports import CaseLinks
from hall_controller.cases.rules import CompletionOutcome
from hall_controller.fleet.ports import CommandSender
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, HallError, NotFound
from hall_controller.queue import rules as queue
from hall_controller.queue.clerk_views import (
    ClerkSettings,
    Completion,
    TakeOver,
    TicketReader,
    WindowStatus,
)
from hall_controller.queue.displays import CALL_TEXT, DeviceDirectory, DisplayAnnouncer
from hall_controller.queue.model import Ticket, TicketState, WindowDef
from hall_controller.queue.ports import ClerkDay, MoveConflict, TicketMoveStore, WindowSession
from hall_controller.queue.rules import (
    InvalidTransition,
    Moved,
    Outcome,
    choose_next,
)
from hall_controller.queue.service_day import service_day_at

logger = logging.getLogger(__name__)

# call_next chooses again after losing a ticket to another window. Every loss means another
# window got a ticket (progress for the hall), and windows racing for the same head of the
# queue can lose several times in a row, so this is a safety bound, not an expected count.
_CALL_ATTEMPTS = 200


class ClerkService:
    """Use cases of the window terminal. ``clerk`` is the logged-in user's name; a window
    must be open by that clerk, unless ``supervisor`` (an admin acting on any window)."""

    def __init__(
        self, tickets: TicketReader, moves: TicketMoveStore, settings: ClerkSettings, *,
        devices: DeviceDirectory | None = None, commands: CommandSender | None = None,
        cases: CaseLinks | None = None, clock: Callable[[], int] = now_ms,
    ) -> None:
        """``devices`` and ``commands``: where displays are found and how they are told
        (without them, nothing is announced). ``cases``: linked online cases are advanced on
        completion (without it, they are not)."""
        self._tickets = tickets
        self._moves = moves
        self.settings = settings
        self._cases = cases
        self._clock = clock
        self._zone = ZoneInfo(settings.timezone)
        self._windows = {w.window_id: w for w in settings.windows}
        self._service_codes = (frozenset(s.code for s in settings.services) if settings.services
                               else frozenset(c for w in settings.windows for c in w.services))
        # One move at a time per window in this process (a double click must not call two
        # tickets to one window); across processes the store's state guard still holds.
        self._locks = {w.window_id: asyncio.Lock() for w in settings.windows}
        self._announcer = DisplayAnnouncer(settings, moves, lambda: self.service_day(self._clock()),
                                           devices=devices, commands=commands)

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> ClerkService:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel announcements still in flight (the controller is stopping)."""
        await self._announcer.aclose()

    async def drain(self) -> None:
        """Wait until every announcement started so far is sent (tests, orderly shutdown)."""
        await self._announcer.drain()

    # -- windows ----------------------------------------------------------------------------

    def windows(self) -> list[WindowDef]:
        return list(self.settings.windows)

    def window(self, window_id: str) -> WindowDef:
        window = self._windows.get(window_id)
        if window is None:
            raise NotFound(f"unknown window {window_id!r}", code=ErrorCode.WINDOW_UNKNOWN,
                           window=window_id)
        return window

    async def open_window(self, window_id: str, clerk: str) -> WindowSession:
        """Open the window for ``clerk``; opening it again is harmless. Conflict when another
        clerk has it open."""
        window = self.window(window_id)
        try:
            session = await self._moves.open_window(window_id, clerk, self._clock())
        except Conflict as exc:
            # The store knows the window's id; a person knows its number.
            if "window" in exc.error_params:
                exc.error_params["window"] = window.number
            raise
        logger.info("window %s opened by %s", window_id, clerk,
                    extra={"window_id": window_id, "clerk": clerk})
        return session

    async def close_window(self, window_id: str, clerk: str, *,
                           supervisor: bool = False) -> WindowSession:
        """Close the window. Refused while a ticket is called or served there (finish,
        park or transfer it first, so nobody is left standing at a closed window)."""
        window = self.window(window_id)
        async with self._locks[window_id]:
            await self._require_open(window, clerk, supervisor)
            current = await self._moves.current_ticket(window_id)
            if current is not None:
                raise Conflict(f"window {window.number} still has {current.number} "
                               f"({current.state.value}); complete, park or transfer it first",
                               code=ErrorCode.WINDOW_HAS_TICKET, window=window.number,
                               ticket=current.number, state=current.state.value)
            session = await self._moves.close_window(window_id, self._clock())
        logger.info("window %s closed by %s", window_id, clerk,
                    extra={"window_id": window_id, "clerk": clerk})
        return session

    async def take_over(self, window_id: str, by: str, note: str) -> TakeOver:
        """A supervisor takes ``window_id`` for themself: the ticket called or served there is
        parked at the window with ``note`` (resumed later like any parked ticket), and
        whoever held the window loses it. Harmless on a free window (it is opened)."""
        return await self._clear_window(window_id, by, note, reopen=True)

    async def force_close(self, window_id: str, by: str, note: str) -> TakeOver:
        """A supervisor closes ``window_id`` whoever holds it, parking its current ticket
        with ``note`` (a clerk gone home with a visitor at the window)."""
        return await self._clear_window(window_id, by, note, reopen=False)

    async def _clear_window(self, window_id: str, by: str, note: str, *,
                            reopen: bool) -> TakeOver:
        window = self.window(window_id)
        what = "taken over" if reopen else "closed"
        async with self._locks[window_id]:
            held = await self._moves.window_session(window_id)
            if held is None and not reopen:
                raise Conflict(f"window {window.number} is not open",
                               code=ErrorCode.WINDOW_NOT_OPEN, window=window.number)
            parked = None
            current = await self._moves.current_ticket(window_id)
            if current is not None:
                detail = f"window {what} by {by}: {note}"
                moved = queue.park(current, actor=_actor(by), now_ms=self._clock(),
                                   detail=detail)
                parked = await self._moves.apply_move(moved, current.state)
            now = self._clock()
            if held is not None and (not reopen or held.clerk != by):
                await self._moves.close_window(window_id, now)
            session = (await self._moves.open_window(window_id, by, now) if reopen
                       else await self._moves.window_session(window_id))
        logger.warning("window %s %s by %s (held by %s; %s parked): %s", window_id, what, by,
                       held.clerk if held else "nobody", parked.number if parked else "nothing",
                       note, extra={"window_id": window_id, "clerk": by,
                                    "previous_clerk": held.clerk if held else None})
        return TakeOver(session, held.clerk if held else None, parked)

    async def status(self, window_id: str) -> WindowStatus:
        window = self.window(window_id)
        now = self._clock()
        session = await self._moves.window_session(window_id)
        current = await self._moves.current_ticket(window_id)
        parked = await self._moves.parked_at(window_id)
        waiting = await self._moves.waiting_for(list(window.services), self.service_day(now))
        recent = await self._moves.recent_calls(window_id, self.settings.policy.history_length)
        next_up = choose_next(window, waiting, now, self.settings.policy, recent)
        return WindowStatus(window, session, current, parked, waiting, next_up)

    async def waiting_list(self, area: str) -> dict[str, object]:
        """The ``display.queue`` parameters for ``area`` (what its displays show)."""
        return await self._announcer.waiting_list(area)

    async def my_day(self, clerk: str) -> tuple[str, ClerkDay]:
        """The clerk's figures for today's service day (across every window they worked)."""
        day = self.service_day(self._clock())
        return day, await self._moves.clerk_day(_actor(clerk), day)

    def service_day(self, at_ms: int) -> str:
        """The queue's service day at ``at_ms`` (the same rule tickets are numbered by)."""
        return service_day_at(at_ms, self._zone, self.settings.rollover_at)

    # -- calling ----------------------------------------------------------------------------

    async def call_next(self, window_id: str, clerk: str, *,
                        supervisor: bool = False) -> Ticket | None:
        """Call the ticket the calling policy chooses for the window; None if nobody waits."""
        window = self.window(window_id)
        async with self._locks[window_id]:
            await self._require_open(window, clerk, supervisor)
            await self._require_free(window)
            lost: set[str] = set()
            for _ in range(_CALL_ATTEMPTS):
                now = self._clock()
                waiting = [t for t in await self._moves.waiting_for(list(window.services),
                                                                    self.service_day(now))
                           if t.ticket_id not in lost]
                recent = await self._moves.recent_calls(window_id,
                                                        self.settings.policy.history_length)
                chosen = choose_next(window, waiting, now, self.settings.policy, recent)
                if chosen is None:
                    return None
                moved = queue.call(chosen, window_id=window_id, actor=_actor(clerk), now_ms=now)
                try:
                    ticket = await self._moves.apply_move(moved, TicketState.WAITING)
                except MoveConflict:
                    # Another window called it between our read and our write: choose again.
                    lost.add(chosen.ticket_id)
                    logger.info("window %s lost %s to another window; choosing again",
                                window_id, chosen.number, extra={"window_id": window_id})
                    continue
                self._log_move(ticket, "called", clerk)
                self._announcer.announce(window, ticket)
                return ticket
        raise Conflict("many windows are calling at once; try again",
                       code=ErrorCode.WINDOW_CALL_CONTENTION)

    async def call_specific(self, window_id: str, clerk: str, ticket_id: str) -> Ticket:
        """A supervisor calls one waiting ticket to a window, whatever the policy says (and
        whichever services the window serves)."""
        window = self.window(window_id)
        async with self._locks[window_id]:
            await self._require_open(window, clerk, supervisor=True)
            await self._require_free(window)
            ticket = await self._get(ticket_id)
            moved = queue.call(ticket, window_id=window_id, actor=_actor(clerk),
                               now_ms=self._clock())
            stored = await self._moves.apply_move(moved, TicketState.WAITING)
        self._log_move(stored, "called (supervisor)", clerk)
        self._announcer.announce(window, stored)
        return stored

    async def recall(self, window_id: str, clerk: str, *, supervisor: bool = False) -> Ticket:
        """Announce the called ticket again. After ``max_recalls`` recalls this raises
        ``RecallLimitReached`` (a Conflict whose ``suggestion`` is "no_show")."""
        window = self.window(window_id)
        ticket = await self._move_current(
            window, clerk, supervisor, "recalled",
            lambda t, now: queue.recall(t, actor=_actor(clerk), now_ms=now,
                                        max_recalls=self.settings.max_recalls))
        self._announcer.announce(window, ticket)
        return ticket

    async def start(self, window_id: str, clerk: str, *, supervisor: bool = False) -> Ticket:
        """The visitor is at the window: serving starts."""
        return await self._move_current(
            self.window(window_id), clerk, supervisor, "serving",
            lambda t, now: queue.start(t, actor=_actor(clerk), now_ms=now))

    async def no_show(self, window_id: str, clerk: str, *, supervisor: bool = False) -> Ticket:
        """The called visitor did not come."""
        return await self._move_current(
            self.window(window_id), clerk, supervisor, "no-show",
            lambda t, now: queue.no_show(t, actor=_actor(clerk), now_ms=now))

    async def park(self, window_id: str, clerk: str, reason: str | None = None, *,
                   supervisor: bool = False) -> Ticket:
        """Set the current ticket aside (e.g. the visitor fetches a document); ``resume``
        puts it back in the queue at its original arrival time."""
        return await self._move_current(
            self.window(window_id), clerk, supervisor, "parked",
            lambda t, now: queue.park(t, actor=_actor(clerk), now_ms=now, detail=reason))

    async def resume(self, window_id: str, clerk: str, ticket_id: str | None = None, *,
                     supervisor: bool = False) -> Ticket:
        """Put a ticket parked at this window back in the queue. ``ticket_id`` may be left
        out when only one is parked here."""
        window = self.window(window_id)
        async with self._locks[window_id]:
            await self._require_open(window, clerk, supervisor)
            parked = await self._moves.parked_at(window_id)
            if ticket_id is not None:
                parked = [t for t in parked if t.ticket_id == ticket_id]
                if not parked:
                    raise NotFound(f"no ticket {ticket_id} is parked at window {window.number}",
                                   code=ErrorCode.WINDOW_NOT_PARKED_HERE, window=window.number,
                                   ticket=ticket_id)
            if not parked:
                raise Conflict(f"no ticket is parked at window {window.number}",
                               code=ErrorCode.WINDOW_NONE_PARKED, window=window.number)
            if len(parked) > 1:
                numbers = ", ".join(t.number for t in parked)
                raise Conflict(f"{len(parked)} tickets are parked at window {window.number} "
                               f"({numbers}); say which", code=ErrorCode.WINDOW_SEVERAL_PARKED,
                               window=window.number, tickets=numbers)
            moved = queue.resume(parked[0], actor=_actor(clerk), now_ms=self._clock())
            ticket = await self._moves.apply_move(moved, TicketState.PARKED)
        self._log_move(ticket, "resumed", clerk)
        self._announcer.refresh_waiting_lists([ticket.service_code])
        return ticket

    async def transfer(self, window_id: str, clerk: str, to_service: str, *,
                       keep_arrival: bool = True, supervisor: bool = False) -> Ticket:
        """Send the current ticket to another service's queue, by default keeping its
        arrival time (the visitor already waited once)."""
        if to_service not in self._service_codes:
            raise NotFound(f"unknown service {to_service!r}; known: "
                           f"{', '.join(sorted(self._service_codes))}",
                           code=ErrorCode.SERVICE_UNKNOWN, service=to_service)
        window = self.window(window_id)
        ticket = await self._move_current(
            window, clerk, supervisor, f"transferred to {to_service}",
            lambda t, now: queue.transfer(t, to_service=to_service, actor=_actor(clerk),
                                          now_ms=now, requeue_at_back=not keep_arrival))
        self._announcer.refresh_waiting_lists([to_service])
        return ticket

    async def complete(self, window_id: str, clerk: str, outcome: Outcome,
                       reason: str | None = None, *, supervisor: bool = False) -> Completion:
        """Finish serving; each linked online case is advanced (visit counted, resolved or
        pending materials with ``reason``)."""
        if outcome is Outcome.PENDING_MATERIALS and not reason:
            raise InvalidCompletion("pending_materials needs a reason (which materials are missing)")
        ticket = await self._move_current(
            self.window(window_id), clerk, supervisor, f"completed ({outcome.value})",
            lambda t, now: queue.complete(t, outcome=outcome, actor=_actor(clerk), now_ms=now,
                                          detail=reason))
        advanced, failed = await self.advance_cases(ticket, reason)
        return Completion(ticket, advanced, failed)

    async def advance_cases(self, ticket: Ticket,
                            reason: str | None = None) -> tuple[list[str], list[str]]:
        """Advance the online cases linked to a completed ticket: (advanced, failed)."""
        if self._cases is None or not ticket.case_ids or ticket.outcome is None:
            return [], []
        outcome = CompletionOutcome(ticket.outcome)
        advanced: list[str] = []
        failed: list[str] = []
        for case_id in ticket.case_ids:
            try:
                await self._cases.complete_linked(case_id, ticket.ticket_id, outcome, reason)
            except HallError as exc:
                # The ticket is done either way; the case can be advanced again later
                # (complete_linked is idempotent), so one bad case does not fail the clerk.
                logger.warning("ticket %s: case %s not advanced: %s", ticket.number, case_id,
                               exc, extra={"ticket_id": ticket.ticket_id, "case_id": case_id})
                failed.append(case_id)
            else:
                advanced.append(case_id)
        return advanced, failed

    # -- plumbing ---------------------------------------------------------------------------

    async def _require_open(self, window: WindowDef, clerk: str, supervisor: bool) -> None:
        session = await self._moves.window_session(window.window_id)
        if session is None:
            raise Conflict(f"window {window.number} is not open; open it first",
                           code=ErrorCode.WINDOW_NOT_OPEN, window=window.number)
        if session.clerk != clerk and not supervisor:
            raise Conflict(f"window {window.number} is open by {session.clerk}",
                           code=ErrorCode.WINDOW_OPEN_BY_OTHER, window=window.number,
                           clerk=session.clerk)

    async def _require_free(self, window: WindowDef) -> None:
        current = await self._moves.current_ticket(window.window_id)
        if current is not None:
            raise Conflict(f"window {window.number} already has {current.number} "
                           f"({current.state.value}); start, complete, recall, mark it as a "
                           f"no-show, park or transfer it first",
                           code=ErrorCode.WINDOW_HAS_TICKET, window=window.number,
                           ticket=current.number, state=current.state.value)

    async def _get(self, ticket_id: str) -> Ticket:
        ticket = await self._tickets.get_ticket(ticket_id)
        if ticket is None:
            raise NotFound(f"unknown ticket {ticket_id}", code=ErrorCode.TICKET_UNKNOWN,
                           ticket=ticket_id)
        return ticket

    async def _move_current(self, window: WindowDef, clerk: str, supervisor: bool, what: str,
                            move: Callable[[Ticket, int], Moved]) -> Ticket:
        async with self._locks[window.window_id]:
            await self._require_open(window, clerk, supervisor)
            current = await self._moves.current_ticket(window.window_id)
            if current is None:
                raise Conflict(f"window {window.number} has no called or served ticket",
                               code=ErrorCode.WINDOW_NO_TICKET, window=window.number)
            moved = move(current, self._clock())
            ticket = await self._moves.apply_move(moved, current.state)
        self._log_move(ticket, what, clerk)
        return ticket

    @staticmethod
    def _log_move(ticket: Ticket, what: str, clerk: str) -> None:
        logger.info("ticket %s %s by %s", ticket.number, what, clerk,
                    extra={"ticket_id": ticket.ticket_id, "window_id": ticket.window_id,
                           "clerk": clerk})


class InvalidCompletion(Conflict):
    """A completion that misses what its outcome needs (a reason for pending materials)."""

    default_code = ErrorCode.COMPLETION_REASON_NEEDED


def _actor(clerk: str) -> str:
    return f"clerk:{clerk}"


__all__ = ["CALL_TEXT", "ClerkService", "ClerkSettings", "Completion", "DeviceDirectory",
           "InvalidCompletion", "InvalidTransition", "TakeOver", "TicketReader", "WindowStatus"]
