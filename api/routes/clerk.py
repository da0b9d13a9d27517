"""The window terminal: open and close a window, call, serve, complete, transfer, park.

Mounted by ``create_app`` when a ``ClerkService`` is registered (the windows feature is
installed); with a ``CaseService`` too, a window shows its current ticket's linked cases.
Clerks (and admins) may use it; an admin may act on a window another clerk has open, and only
an admin may call a specific ticket (the supervisor's move).
Errors rise as the controller's: unknown window or ticket → 404, a move the state does not
allow (nothing called, recall limit reached, ...) → 409 with what to do instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.auth import Principal, require_role
from api.params import NO_NUL
from api.schemas import ErrorOut, Millis
from api.services import provide, provide_optional
from hall_controller.cases.rules import Case
from hall_controller.cases.service import CaseService
from hall_controller.fleet.model import Role
from hall_controller.kernel.errors import NotFound
from hall_controller.queue.clerk import ClerkService, TakeOver, WindowStatus
from hall_controller.queue.model import WINDOW_ID_PATTERN, Ticket, TicketState
from hall_controller.queue.rules import Outcome

ClerkDesk = Annotated[ClerkService, Depends(provide(ClerkService))]
LinkedCases = Annotated[CaseService | None, Depends(provide_optional(CaseService))]
# A supervisor works the windows like a clerk, and may also act on anyone's window.
Clerk = Annotated[Principal, Depends(require_role(Role.CLERK, Role.SUPERVISOR))]
Supervisor = Annotated[Principal, Depends(require_role(Role.SUPERVISOR))]
WindowId = Annotated[str, Path(pattern=WINDOW_ID_PATTERN, description="e.g. w3")]
TEXT = NO_NUL   # PostgreSQL text cannot hold NUL
MAX_QUEUE_SHOWN = 100

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown window, ticket or service"},
    409: {"model": ErrorOut, "description": "the window or ticket is not in a state that allows "
                                            "this (the message says what to do instead)"},
}


class TicketOut(BaseModel):
    ticket_id: str
    number: str = Field(description='"A012"')
    service: str
    state: TicketState
    priority: bool
    issued_ms: Millis = Field(description="arrival in the queue (kept across transfers)")
    appointment_ms: Millis | None
    window_id: str | None
    called_ms: Millis | None
    serving_ms: Millis | None
    completed_ms: Millis | None
    recalls: int
    outcome: str | None
    case_ids: list[str] = Field(description="linked online cases (一网通办)")

    @classmethod
    def build(cls, t: Ticket) -> TicketOut:
        return cls(ticket_id=t.ticket_id, number=t.number, service=t.service_code, state=t.state,
                   priority=t.priority, issued_ms=t.issued_ms, appointment_ms=t.appointment_ms,
                   window_id=t.window_id, called_ms=t.called_ms, serving_ms=t.serving_ms,
                   completed_ms=t.completed_ms, recalls=t.recalls, outcome=t.outcome,
                   case_ids=list(t.case_ids))


class MaterialOut(BaseModel):
    code: str
    name: str
    received: bool


class LinkedCaseOut(BaseModel):
    """An online case linked to the current ticket: what the clerk checks at the window."""

    case_id: str
    service: str
    status: str
    status_reason: str | None
    applicant_name: str | None
    materials: list[MaterialOut] = Field(description="the materials checklist")
    visits: int = Field(description="in-person visits so far (only one is the goal: 只跑一次)")

    @classmethod
    def build(cls, case: Case) -> LinkedCaseOut:
        return cls(case_id=case.case_id, service=case.service_code, status=case.status.value,
                   status_reason=case.status_reason, applicant_name=case.applicant.name,
                   materials=[MaterialOut(code=m.code, name=m.name, received=m.received)
                              for m in case.materials],
                   visits=case.visit_count)


class SessionOut(BaseModel):
    clerk: str
    opened_ms: Millis
    closed_ms: Millis | None


class ServiceNameOut(BaseModel):
    name: str
    name_en: str = Field(description="for pages switched to English (the name if none)")


class WindowOut(BaseModel):
    window_id: str
    number: int
    area: str
    services: dict[str, int] = Field(description="service code → weight")
    session: SessionOut | None = Field(description="the open session; null: closed")
    current: TicketOut | None = Field(description="called or being served here")
    parked: list[TicketOut]
    waiting_count: int
    waiting: list[TicketOut] = Field(
        description=f"today's queue of this window's services, oldest first (at most "
                    f"{MAX_QUEUE_SHOWN})")
    next_up: TicketOut | None = Field(description="who call-next would get now")
    current_cases: list[LinkedCaseOut] = Field(
        default_factory=list,
        description="the current ticket's linked online cases with their materials")
    service_names: dict[str, ServiceNameOut] = Field(
        default_factory=dict,
        description="service code → its names, for every service of the hall (what the "
                    "terminal shows a clerk instead of codes)")
    max_recalls: int = Field(default=0, description="recalls allowed per call; then no-show")

    @classmethod
    def build(cls, s: WindowStatus, names: dict[str, ServiceNameOut] | None = None,
              max_recalls: int = 0) -> WindowOut:
        w = s.window
        session = None if s.session is None else SessionOut(
            clerk=s.session.clerk, opened_ms=s.session.opened_ms, closed_ms=s.session.closed_ms)
        return cls(window_id=w.window_id, number=w.number, area=w.area, services=dict(w.services),
                   session=session,
                   current=None if s.current is None else TicketOut.build(s.current),
                   parked=[TicketOut.build(t) for t in s.parked], waiting_count=len(s.waiting),
                   waiting=[TicketOut.build(t) for t in s.waiting[:MAX_QUEUE_SHOWN]],
                   next_up=None if s.next_up is None else TicketOut.build(s.next_up),
                   service_names=names or {}, max_recalls=max_recalls)


class CallOut(BaseModel):
    called: TicketOut | None = Field(description="null: nobody waits for this window")


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    reason: str | None = Field(default=None, max_length=500, pattern=TEXT,
                               description="what is missing, for pending_materials")

    @model_validator(mode="after")
    def _reason_for_pending(self) -> CompleteIn:
        if self.outcome is Outcome.PENDING_MATERIALS and not self.reason:
            raise ValueError("pending_materials needs a reason (which materials are missing)")
        return self


class MyDayOut(BaseModel):
    """The logged-in clerk's figures for today's service day, from the ticket history."""

    clerk: str
    service_day: str
    called: int
    done: int
    no_show: int
    transferred: int
    mean_service_s: float | None


class CompleteOut(BaseModel):
    ticket: TicketOut
    cases_advanced: list[str]
    cases_failed: list[str] = Field(description="linked cases not advanced (logged; retried "
                                                "safely later)")


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=64, pattern=TEXT,
                         description="the target service code")
    keep_arrival: bool = Field(default=True,
                               description="keep the original arrival time (default)")


class ParkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500, pattern=TEXT)


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket_id: str | None = Field(default=None, max_length=64, pattern=TEXT,
                                  description="which parked ticket; optional when only one is")


class CallSpecificIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket_id: str = Field(min_length=1, max_length=64, pattern=TEXT)


class TakeOverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=500, pattern=TEXT,
                      description="why (kept with the parked ticket's history and logged)")


class TakeOverOut(BaseModel):
    window: WindowOut
    previous_clerk: str | None = Field(description="who held the window, if anyone")
    parked: TicketOut | None = Field(description="the ticket that was at the window, now parked "
                                                 "there (resume it like any parked ticket)")

    @classmethod
    def build(cls, result: TakeOver, window: WindowOut) -> TakeOverOut:
        return cls(window=window, previous_clerk=result.previous_clerk,
                   parked=None if result.parked is None else TicketOut.build(result.parked))


def _is_supervisor(principal: Principal) -> bool:
    return principal.role in (Role.ADMIN, Role.SUPERVISOR)


def _window_out(clerk: ClerkService, status: WindowStatus) -> WindowOut:
    return WindowOut.build(status, _service_names(clerk), clerk.settings.max_recalls)


def _service_names(clerk: ClerkService) -> dict[str, ServiceNameOut]:
    return {s.code: ServiceNameOut(name=s.name, name_en=s.name_en or s.name)
            for s in clerk.settings.services}


router = APIRouter(prefix="/windows", tags=["windows"], responses=ERRORS)


async def _linked_cases(status: WindowStatus, cases: CaseService | None) -> list[LinkedCaseOut]:
    if cases is None or status.current is None:
        return []
    found = []
    for case_id in status.current.case_ids:
        try:
            found.append(LinkedCaseOut.build(await cases.get(case_id)))
        except NotFound:
            continue  # withdrawn by the platform since; the ticket keeps the id
    return found


@router.get("", response_model=list[WindowOut])
async def list_windows(_: Clerk, clerk: ClerkDesk) -> list[WindowOut]:
    """Every window with its session, current ticket and queue."""
    names = _service_names(clerk)
    return [WindowOut.build(await clerk.status(w.window_id), names, clerk.settings.max_recalls)
            for w in clerk.windows()]


@router.get("/my-day", response_model=MyDayOut)
async def my_day(principal: Clerk, clerk: ClerkDesk) -> MyDayOut:
    """My figures today: tickets I called, completed, marked no-show and transferred, and
    my mean service time (start → complete), at whatever windows I worked."""
    day, figures = await clerk.my_day(principal.name)
    mean = figures.mean_service_s
    return MyDayOut(clerk=principal.name, service_day=day, called=figures.called,
                    done=figures.done, no_show=figures.no_show,
                    transferred=figures.transferred,
                    mean_service_s=None if mean is None else round(mean, 1))


@router.get("/{window_id}", response_model=WindowOut)
async def get_window(_: Clerk, clerk: ClerkDesk, cases: LinkedCases,
                     window_id: WindowId) -> WindowOut:
    """The window: who has it open, the current ticket with its linked cases, the parked
    tickets, the queue of its services and who call-next would get."""
    status = await clerk.status(window_id)
    out = _window_out(clerk, status)
    out.current_cases = await _linked_cases(status, cases)
    return out


@router.post("/{window_id}/open", response_model=WindowOut)
async def open_window(principal: Clerk, clerk: ClerkDesk, window_id: WindowId) -> WindowOut:
    """Open the window for the logged-in clerk (again: harmless; another clerk's: 409)."""
    await clerk.open_window(window_id, principal.name)
    return _window_out(clerk, await clerk.status(window_id))


@router.post("/{window_id}/close", response_model=WindowOut)
async def close_window(principal: Clerk, clerk: ClerkDesk, window_id: WindowId) -> WindowOut:
    """Close the window (409 while a ticket is called or served there)."""
    await clerk.close_window(window_id, principal.name, supervisor=_is_supervisor(principal))
    return _window_out(clerk, await clerk.status(window_id))


@router.post("/{window_id}/take-over", response_model=TakeOverOut)
async def take_over(principal: Supervisor, clerk: ClerkDesk, window_id: WindowId,
                    body: TakeOverIn) -> TakeOverOut:
    """Take the window over (admin): its current ticket is parked there with the note, and
    whoever held it loses it; the window is then open for the admin."""
    result = await clerk.take_over(window_id, principal.name, body.note)
    return TakeOverOut.build(result, _window_out(clerk, await clerk.status(window_id)))


@router.post("/{window_id}/force-close", response_model=TakeOverOut)
async def force_close(principal: Supervisor, clerk: ClerkDesk, window_id: WindowId,
                      body: TakeOverIn) -> TakeOverOut:
    """Close the window whoever holds it (admin), parking its current ticket with the note
    (409 when it is not open)."""
    result = await clerk.force_close(window_id, principal.name, body.note)
    return TakeOverOut.build(result, _window_out(clerk, await clerk.status(window_id)))


@router.post("/{window_id}/call-next", response_model=CallOut)
async def call_next(principal: Clerk, clerk: ClerkDesk, window_id: WindowId) -> CallOut:
    """Call the next ticket (appointments due, then the green-channel ratio, then the
    longest weighted wait); the displays of the window's area announce it."""
    ticket = await clerk.call_next(window_id, principal.name,
                                   supervisor=_is_supervisor(principal))
    return CallOut(called=None if ticket is None else TicketOut.build(ticket))


@router.post("/{window_id}/call", response_model=CallOut)
async def call_specific(principal: Supervisor, clerk: ClerkDesk, window_id: WindowId,
                        body: CallSpecificIn) -> CallOut:
    """Call one waiting ticket to this window, whatever the policy says (admin)."""
    ticket = await clerk.call_specific(window_id, principal.name, body.ticket_id)
    return CallOut(called=TicketOut.build(ticket))


@router.post("/{window_id}/recall", response_model=TicketOut)
async def recall(principal: Clerk, clerk: ClerkDesk, window_id: WindowId) -> TicketOut:
    """Announce the called ticket again (409 after the recall limit: mark a no-show)."""
    return TicketOut.build(await clerk.recall(window_id, principal.name,
                                              supervisor=_is_supervisor(principal)))


@router.post("/{window_id}/start", response_model=TicketOut)
async def start(principal: Clerk, clerk: ClerkDesk, window_id: WindowId) -> TicketOut:
    """The visitor is here: start serving the called ticket."""
    return TicketOut.build(await clerk.start(window_id, principal.name,
                                             supervisor=_is_supervisor(principal)))


@router.post("/{window_id}/complete", response_model=CompleteOut)
async def complete(principal: Clerk, clerk: ClerkDesk, window_id: WindowId,
                   body: CompleteIn) -> CompleteOut:
    """Finish serving: resolved, or pending materials with a reason. Linked online cases
    are advanced."""
    done = await clerk.complete(window_id, principal.name, body.outcome, body.reason,
                                supervisor=_is_supervisor(principal))
    return CompleteOut(ticket=TicketOut.build(done.ticket),
                       cases_advanced=done.cases_advanced, cases_failed=done.cases_failed)


@router.post("/{window_id}/transfer", response_model=TicketOut)
async def transfer(principal: Clerk, clerk: ClerkDesk, window_id: WindowId,
                   body: TransferIn) -> TicketOut:
    """Send the current ticket to another service's queue (keeping its arrival time)."""
    return TicketOut.build(await clerk.transfer(
        window_id, principal.name, body.service, keep_arrival=body.keep_arrival,
        supervisor=_is_supervisor(principal)))


@router.post("/{window_id}/no-show", response_model=TicketOut)
async def no_show(principal: Clerk, clerk: ClerkDesk, window_id: WindowId) -> TicketOut:
    """The called visitor did not come."""
    return TicketOut.build(await clerk.no_show(window_id, principal.name,
                                               supervisor=_is_supervisor(principal)))


@router.post("/{window_id}/park", response_model=TicketOut)
async def park(principal: Clerk, clerk: ClerkDesk, window_id: WindowId,
               body: ParkIn | None = None) -> TicketOut:
    """Set the current ticket aside (e.g. the visitor fetches a document)."""
    return TicketOut.build(await clerk.park(
        window_id, principal.name, None if body is None else body.reason,
        supervisor=_is_supervisor(principal)))


@router.post("/{window_id}/resume", response_model=TicketOut)
async def resume(principal: Clerk, clerk: ClerkDesk, window_id: WindowId,
                 body: ResumeIn | None = None) -> TicketOut:
    """Put a parked ticket back in the queue at its original arrival time."""
    return TicketOut.build(await clerk.resume(
        window_id, principal.name, None if body is None else body.ticket_id,
        supervisor=_is_supervisor(principal)))
