"""Remote tickets (指尖办): take a queue ticket before arriving, see its position and wait.

Mounted by ``create_app`` when a ``RemoteTicketService`` is registered (the remote-tickets
feature is installed). Callers: the online platform with
an API key, or any logged-in user (staff taking a ticket for a caller on the phone). The key
scopes are the case scopes (``cases:write`` to take, ``cases:read`` or ``cases:write`` to
look): a remote ticket is always taken on behalf of a case's applicant, and a separate
``tickets:*`` scope would need the scope list of the key model (cases/rules.py) to change.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.auth import Principal, api_key_scheme, current_principal, require_scope
from api.params import MAX_MS, NO_NUL
from api.refusal import ApiRefusal, unprocessable
from api.schemas import ErrorOut, Millis
from api.services import provide
from hall_controller.cases.rules import Scope
from hall_controller.fleet.model import Role
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.queue.model import TicketState
from hall_controller.queue.remote_tickets import (
    InvalidRemoteRequest,
    RemoteTicketService,
    RemoteTicketView,
)

TEXT = NO_NUL   # PostgreSQL text cannot hold NUL
_ROLES = (Role.CLERK, Role.FACILITIES)
RemoteTickets = Annotated[RemoteTicketService, Depends(provide(RemoteTicketService))]
Taker = Annotated[Principal, Depends(require_scope(Scope.CASES_WRITE.value, *_ROLES))]


async def _reader(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    # The platform key that took a ticket (cases:write) may read it back too.
    if (principal.has_scope(Scope.CASES_READ.value) or principal.has_scope(Scope.CASES_WRITE.value)
            or principal.has_any_role(_ROLES)):
        return principal
    raise ApiRefusal(status.HTTP_403_FORBIDDEN,
                     "this needs an API key with the scope cases:read or cases:write, "
                     "or a staff login", ErrorCode.AUTH_SCOPE_NEEDED, {"scope": "cases:read"})


Reader = Annotated[Principal, Depends(_reader)]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown service or ticket, or the case is not an "
                                            "open case of this person for the service"},
    409: {"model": ErrorOut, "description": "the person already holds a remote ticket for the "
                                            "service today, or the daily cap is reached"},
    422: {"model": ErrorOut, "description": "invalid request (e.g. arrive_by_ms outside today's "
                                            "service day)"},
}


class RemoteTicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=64, pattern=TEXT, description="service code")
    person_id: str | None = Field(default=None, min_length=1, max_length=256, pattern=TEXT)
    campus_card: str | None = Field(default=None, min_length=1, max_length=256, pattern=TEXT,
                                    description="instead of person_id; the visitor checks in "
                                                "with the same card")
    case_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=TEXT,
                                description="an open case of this person for the service; "
                                            "linked to the ticket")
    arrive_by_ms: int | None = Field(
        default=None, gt=0, le=MAX_MS, description="check-in deadline; default: now + "
                                        "queue.remote_checkin_window_min")
    request_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=TEXT,
        description="idempotency key: the same key again answers with the same ticket")

    @model_validator(mode="after")
    def _one_identity(self) -> RemoteTicketIn:
        if (self.person_id is None) == (self.campus_card is None):
            raise ValueError("give exactly one of person_id and campus_card")
        return self

    def identity(self) -> tuple[str, str]:
        if self.person_id is not None:
            return "person_id", self.person_id
        assert self.campus_card is not None  # the validator guarantees one of them
        return "campus_card", self.campus_card


class RemoteTicketOut(BaseModel):
    ticket_id: str
    ticket: str = Field(description='the number, "A012"')
    service: str
    service_day: str
    state: TicketState = Field(description="awaiting_checkin until the visitor checks in at a "
                                           "kiosk; lapsed if not by checkin_by_ms")
    issued_ms: Millis = Field(description="taken; after check-in: the check-in time (the queue "
                                          "counts from arrival)")
    checkin_by_ms: Millis | None
    case_ids: list[str]
    waiting_ahead: int | None = Field(
        description="waiting tickets ahead (awaiting check-in: those ahead if checked in now); "
                    "null once called or closed")
    estimated_wait_s: int | None

    @classmethod
    def build(cls, view: RemoteTicketView) -> RemoteTicketOut:
        t = view.ticket
        return cls(ticket_id=t.ticket_id, ticket=t.number, service=t.service_code,
                   service_day=t.service_day, state=t.state, issued_ms=t.issued_ms,
                   checkin_by_ms=view.checkin_by_ms, case_ids=list(t.case_ids),
                   waiting_ahead=view.waiting_ahead, estimated_wait_s=view.estimated_wait_s)


def _caller(principal: Principal) -> str:
    return f"{principal.kind}:{principal.name}"


router = APIRouter(prefix="/remote-tickets", tags=["remote tickets"],
                   dependencies=[Depends(api_key_scheme)])


@router.post("", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def take_remote_ticket(body: RemoteTicketIn, principal: Taker,
                             service: RemoteTickets) -> RemoteTicketOut:
    """Take a ticket before arriving: the number is allocated now, the ticket joins the
    queue when the visitor checks in at a kiosk with the same identity."""
    try:
        view = await service.take(body.service, body.identity(), caller=_caller(principal),
                                  case_id=body.case_id, arrive_by_ms=body.arrive_by_ms,
                                  request_id=body.request_id)
    except InvalidRemoteRequest as exc:
        raise unprocessable(exc) from exc  # as FastAPI's own validation errors
    return RemoteTicketOut.build(view)


@router.get("/{ticket_id}", responses=ERRORS)
async def get_remote_ticket(
    ticket_id: Annotated[str, Path(max_length=64, pattern=TEXT)], _: Reader,
    service: RemoteTickets,
) -> RemoteTicketOut:
    """State, position and estimated wait of a remote ticket."""
    return RemoteTicketOut.build(await service.status(ticket_id))
