"""Online cases (一网通办): the platform upserts them with an API key; staff may read them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.auth import Principal, api_key_scheme, require_scope
from api.params import NO_NUL, Limit, MillisIn
from api.routes.integration import NOT_FOUND
from api.schemas import Millis
from api.services import provide
from hall_controller.cases.rules import (
    Applicant,
    Appointment,
    Case,
    CaseInput,
    CaseStatus,
    Material,
    Scope,
)
from hall_controller.cases.service import CaseService
from hall_controller.fleet.model import Role

CASE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
TEXT = NO_NUL   # PostgreSQL text cannot hold NUL: refuse it here, with a clear 422
MAX_MATERIALS = 50

Cases = Annotated[CaseService, Depends(provide(CaseService))]
CaseWriter = Annotated[Principal, Depends(require_scope(Scope.CASES_WRITE.value))]
# Clerks and facilities staff may read cases (the window terminal shows the linked ones).
CaseReader = Annotated[Principal, Depends(require_scope(Scope.CASES_READ.value, Role.CLERK,
                                                        Role.FACILITIES))]

router = APIRouter(prefix="/integration/cases", tags=["cases"],
                   dependencies=[Depends(api_key_scheme)])


class ApplicantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=TEXT)
    campus_card: str | None = Field(default=None, min_length=1, max_length=64, pattern=TEXT)
    name: str | None = Field(default=None, max_length=100, pattern=TEXT)

    @model_validator(mode="after")
    def _identifiable(self) -> ApplicantIn:
        # Without either, no kiosk could ever find the case for the visitor.
        if self.person_id is None and self.campus_card is None:
            raise ValueError("an applicant needs a person_id or a campus_card")
        return self


class MaterialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE, description="the platform's material code")
    name: str = Field(min_length=1, max_length=200, pattern=TEXT)
    received: bool = False


class AppointmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at_ms: MillisIn = Field(description="booked time, ms since the epoch")
    window_start_ms: MillisIn | None = Field(default=None,
                                             description="earliest check-in, ms since the epoch")
    window_end_ms: MillisIn | None = Field(default=None,
                                           description="latest check-in, ms since the epoch")

    @model_validator(mode="after")
    def _ordered(self) -> AppointmentIn:
        start, end = self.window_start_ms, self.window_end_ms
        if start is not None and start > self.at_ms:
            raise ValueError("window_start_ms must not be after at_ms")
        if end is not None and end < self.at_ms:
            raise ValueError("window_end_ms must not be before at_ms")
        return self


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str | None = Field(default=None, description="optional; must match the path")
    service_code: str = Field(pattern=CODE, description="the hall's service code")
    status: CaseStatus
    status_reason: str | None = Field(default=None, max_length=500, pattern=TEXT)
    applicant: ApplicantIn
    materials: list[MaterialIn] = Field(default_factory=list, max_length=MAX_MATERIALS)
    appointment: AppointmentIn | None = None

    @model_validator(mode="after")
    def _unique_materials(self) -> CaseIn:
        codes = [m.code for m in self.materials]
        if len(codes) != len(set(codes)):
            raise ValueError("material codes must be unique within a case")
        return self

    def to_input(self, case_id: str) -> CaseInput:
        a = self.appointment
        return CaseInput(
            case_id=case_id, service_code=self.service_code, status=self.status,
            applicant=Applicant(self.applicant.person_id, self.applicant.campus_card,
                                self.applicant.name),
            materials=tuple(Material(m.code, m.name, m.received) for m in self.materials),
            appointment=None if a is None else Appointment(a.at_ms, a.window_start_ms,
                                                           a.window_end_ms),
            status_reason=self.status_reason,
        )


class VisitOut(BaseModel):
    ticket_id: str
    at_ms: Millis
    outcome: str


class CaseOut(BaseModel):
    case_id: str
    service_code: str
    status: CaseStatus
    status_reason: str | None
    applicant: ApplicantIn
    materials: list[MaterialIn]
    appointment: AppointmentIn | None
    visits: list[VisitOut]
    visit_count: int
    linked_tickets: list[str]
    created_ms: Millis
    updated_ms: Millis
    resolved_ms: Millis | None
    version: int

    @classmethod
    def build(cls, case: Case) -> CaseOut:
        a = case.appointment
        return cls(
            case_id=case.case_id, service_code=case.service_code, status=case.status,
            status_reason=case.status_reason,
            applicant=ApplicantIn.model_construct(
                person_id=case.applicant.person_id, campus_card=case.applicant.campus_card,
                name=case.applicant.name),
            materials=[MaterialIn(code=m.code, name=m.name, received=m.received)
                       for m in case.materials],
            appointment=None if a is None else AppointmentIn.model_construct(
                at_ms=a.at_ms, window_start_ms=a.window_start_ms, window_end_ms=a.window_end_ms),
            visits=[VisitOut(ticket_id=v.ticket_id, at_ms=v.at_ms, outcome=v.outcome)
                    for v in case.visits],
            visit_count=case.visit_count, linked_tickets=list(case.linked_tickets),
            created_ms=case.created_ms, updated_ms=case.updated_ms,
            resolved_ms=case.resolved_ms, version=case.version,
        )


RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND, 201: {"model": CaseOut, "description": "created"},
}


@router.put("/{case_id}", response_model=CaseOut, responses=RESPONSES)
async def upsert_case(
    case_id: Annotated[str, Path(pattern=CASE_ID)], body: CaseIn, response: Response,
    _: CaseWriter, cases: Cases,
) -> CaseOut:
    """Create (201) or update (200) a case as the platform describes it. Idempotent: sending
    the same body again changes nothing and appends no event. Visits and linked tickets are
    the hall's and are kept."""
    if body.case_id is not None and body.case_id != case_id:
        raise RequestValidationError([{
            "type": "value_error", "loc": ("body", "case_id"),
            "msg": "case_id in the body differs from the one in the path", "input": body.case_id,
        }])
    result = await cases.upsert(body.to_input(case_id))
    if result.created:
        response.status_code = status.HTTP_201_CREATED
    return CaseOut.build(result.case)


@router.get("/{case_id}", response_model=CaseOut, responses=NOT_FOUND)
async def get_case(case_id: Annotated[str, Path(pattern=CASE_ID)], _: CaseReader,
                   cases: Cases) -> CaseOut:
    """One case, with its visits and linked tickets."""
    return CaseOut.build(await cases.get(case_id))


@router.get("", response_model=list[CaseOut])
async def list_cases(  # noqa: PLR0917 - FastAPI passes query parameters by name
    _: CaseReader, cases: Cases,
    person_id: Annotated[str | None, Query(max_length=64)] = None,
    campus_card: Annotated[str | None, Query(max_length=64)] = None,
    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
    service_code: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
) -> list[CaseOut]:
    """Cases, oldest first, filtered by applicant, status and service."""
    found = await cases.list_cases(person_id=person_id, campus_card=campus_card,
                                   status=status_, service_code=service_code, limit=limit)
    return [CaseOut.build(c) for c in found]
