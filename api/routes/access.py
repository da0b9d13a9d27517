"""Access control: people and face enrolment, schedules, rules, holidays, door modes, remote
unlock and the audit trail.

People, faces and rules are the admin's; doors (unlock, mode) and the audit are for facilities
staff too. Photos uploaded for enrolment are turned into embeddings in memory and dropped.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    File,
    Path,
    Query,
    Response,
    UploadFile,
    status,
)
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AdminOnly, Facilities
from api.params import NO_NUL, BeforeId, DeviceId, Limit, MillisIn, Offset, RowId
from api.refusal import unprocessable
from api.schemas import CommandOut, ErrorOut
from api.services import provide
from devices.access_rules import DoorMode
from hall_controller.access.rules import (
    PERSON_ID,
    AccessRule,
    AuditCategory,
    AuditEntry,
    Person,
)
from hall_controller.access.service import (
    MAX_PHOTO_BYTES,
    AccessService,
    EnrolmentRefused,
    InvalidAccessInput,
    person_from_input,
)

Access = Annotated[AccessService, Depends(provide(AccessService))]
# A malformed id is a 422 (no person can have it); a well-formed unknown one is a 404.
PersonId = Annotated[str, Path(pattern=PERSON_ID.pattern,
                               description="the campus id: 1-64 letters, digits, . _ : -")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "not found"}}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonIn(_Body):
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    role: str = Field(description="student, staff or visitor")
    groups: list[str] = Field(default_factory=list, max_length=100,
                              description="e.g. dorm-b3, dorm-b3-0412, hall-staff")
    cards: list[str] = Field(default_factory=list, max_length=10)
    valid_from_ms: MillisIn | None = None
    valid_until_ms: MillisIn | None = Field(default=None,
                                            description="required for visitors: the pass "
                                                        "expires (ms since the epoch)")


class PersonOut(BaseModel):
    person_id: str
    name: str
    role: str
    groups: list[str]
    cards: list[str]
    valid_from_ms: int | None
    valid_until_ms: int | None
    face_count: int
    created_ms: int
    updated_ms: int

    @classmethod
    def build(cls, p: Person) -> PersonOut:
        return cls(person_id=p.person_id, name=p.name, role=p.role.value, groups=list(p.groups),
                   cards=list(p.cards), valid_from_ms=p.valid_from_ms,
                   valid_until_ms=p.valid_until_ms, face_count=p.face_count,
                   created_ms=p.created_ms, updated_ms=p.updated_ms)


class EnrolmentOut(BaseModel):
    person_id: str
    face_count: int


class RuleIn(_Body):
    group: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    target: str = Field(min_length=1, max_length=63, pattern=NO_NUL,
                        description="a device id, or a pattern such as lock-b3-*")
    schedule: str = Field(default="always", min_length=1, max_length=64, pattern=NO_NUL)


class RuleOut(BaseModel):
    rule_id: int
    group: str
    target: str
    schedule: str

    @classmethod
    def build(cls, r: AccessRule) -> RuleOut:
        return cls(rule_id=r.rule_id, group=r.group, target=r.target, schedule=r.schedule)


class HolidayIn(_Body):
    name: str = Field(default="", max_length=100, pattern=NO_NUL)


class UnlockIn(_Body):
    duration_s: float = Field(default=5.0, ge=1.0, le=60.0)
    reason: str = Field(min_length=1, max_length=200, pattern=NO_NUL,
                        description="why; kept in the audit")


class ModeIn(_Body):
    mode: DoorMode


class ModeOut(BaseModel):
    device_id: str
    mode: DoorMode
    command: CommandOut | None = Field(description="the signed command sent now; null if the "
                                                   "device is offline (it gets the mode when it "
                                                   "next syncs)")


class AuditOut(BaseModel):
    id: int
    ts: int
    device_id: str | None
    category: str
    action: str
    outcome: str
    person_id: str | None
    actor: str | None
    reason: str | None
    details: dict[str, Any]

    @classmethod
    def build(cls, e: AuditEntry) -> AuditOut:
        return cls(id=e.id, ts=e.ts_ms, device_id=e.device_id, category=e.category.value,
                   action=e.action, outcome=e.outcome, person_id=e.person_id, actor=e.actor,
                   reason=e.reason, details=dict(e.details))


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_before_id: int | None = Field(description="pass as before_id for older entries")


router = APIRouter(prefix="/access", tags=["access"])


# -- people -----------------------------------------------------------------------------------


@router.put("/persons/{person_id}", response_model=PersonOut,
            responses={201: {"model": PersonOut, "description": "created"}})
async def put_person(person_id: PersonId, body: PersonIn, principal: AdminOnly,
                     access: Access, response: Response) -> PersonOut:
    """Create or replace a person (campus id, name, role, groups, cards, pass validity).
    Gates and locks pick up the change at once."""
    try:
        person = person_from_input(person_id, body.name, body.role, groups=body.groups,
                                   cards=body.cards, valid_from_ms=body.valid_from_ms,
                                   valid_until_ms=body.valid_until_ms)
    except InvalidAccessInput as exc:
        raise unprocessable(exc) from None
    stored, created = await access.save_person(person, f"user:{principal.name}")
    if created:
        response.status_code = status.HTTP_201_CREATED
    return PersonOut.build(stored)


@router.get("/persons", response_model=list[PersonOut])
async def list_persons(_: AdminOnly, access: Access,
                       group: Annotated[str | None, Query(max_length=64)] = None,
                       role: Annotated[str | None, Query(max_length=16)] = None,
                       limit: Limit = 100, offset: Offset = 0) -> list[PersonOut]:
    return [PersonOut.build(p) for p in await access.list_persons(
        group=group, role=role, limit=limit, offset=offset)]


@router.get("/persons/{person_id}", response_model=PersonOut, responses=NOT_FOUND)
async def get_person(person_id: PersonId, _: AdminOnly, access: Access) -> PersonOut:
    return PersonOut.build(await access.get_person(person_id))


@router.delete("/persons/{person_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=NOT_FOUND)
async def delete_person(person_id: PersonId, principal: AdminOnly, access: Access) -> None:
    """Delete the person and every face embedding of theirs; gates drop them from their
    galleries at the refresh that follows (or their next sync)."""
    await access.delete_person(person_id, f"user:{principal.name}")


@router.post("/persons/{person_id}/faces", response_model=EnrolmentOut,
             responses={**NOT_FOUND,
                        409: {"model": ErrorOut, "description": "too many faces enrolled"},
                        422: {"model": ErrorOut, "description": "a photo failed a check"}})
async def enrol_faces(person_id: PersonId, principal: AdminOnly, access: Access,
                      photos: Annotated[list[UploadFile], File(
                          description="1-10 photos, each with exactly one face")]
                      ) -> EnrolmentOut:
    """Enrol faces from photos: each must show exactly one face, large and sharp enough.
    Only the 128-number embeddings are kept; the photos are not stored."""
    data: list[bytes] = []
    for n, upload in enumerate(photos, start=1):
        content = await upload.read(MAX_PHOTO_BYTES + 1)
        if len(content) > MAX_PHOTO_BYTES:
            raise unprocessable(EnrolmentRefused(
                n, "too_large", f"over {MAX_PHOTO_BYTES // (1024 * 1024)} MiB"))
        data.append(content)
    try:
        count = await access.enrol_faces(person_id, data, f"user:{principal.name}")
    except (EnrolmentRefused, InvalidAccessInput) as exc:
        raise unprocessable(exc) from None
    return EnrolmentOut(person_id=person_id, face_count=count)


@router.delete("/persons/{person_id}/faces", response_model=EnrolmentOut,
               responses=NOT_FOUND)
async def clear_faces(person_id: PersonId, principal: AdminOnly, access: Access) -> EnrolmentOut:
    await access.clear_faces(person_id, f"user:{principal.name}")
    return EnrolmentOut(person_id=person_id, face_count=0)


# -- schedules, rules, holidays ---------------------------------------------------------------


@router.get("/schedules")
async def list_schedules(_: AdminOnly, access: Access) -> dict[str, dict[str, Any]]:
    """Named schedules (``always`` is built in)."""
    return await access.schedules()


@router.put("/schedules/{name}")
async def put_schedule(name: Annotated[str, Path(max_length=64)], body: dict[str, Any],
                       principal: AdminOnly, access: Access) -> dict[str, Any]:
    """``{"windows": [{"days": [1..7], "start": "HH:MM", "end": "HH:MM"}], "from"?:
    "YYYY-MM-DD", "until"?: ..., "on_holidays"?: false}``; an end at or before the start
    runs past midnight."""
    try:
        return await access.put_schedule(name, body, f"user:{principal.name}")
    except InvalidAccessInput as exc:
        raise unprocessable(exc) from None


@router.delete("/schedules/{name}", status_code=status.HTTP_204_NO_CONTENT,
               responses=NOT_FOUND)
async def delete_schedule(name: Annotated[str, Path(max_length=64)],
                          principal: AdminOnly, access: Access) -> None:
    await access.delete_schedule(name, f"user:{principal.name}")


@router.get("/rules", response_model=list[RuleOut])
async def list_rules(_: AdminOnly, access: Access) -> list[RuleOut]:
    return [RuleOut.build(r) for r in await access.rules()]


@router.post("/rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED,
             responses={**NOT_FOUND, 409: {"model": ErrorOut, "description": "exists"}})
async def add_rule(body: RuleIn, principal: AdminOnly, access: Access) -> RuleOut:
    """Let a group pass at the devices ``target`` names during a schedule."""
    try:
        rule = await access.add_rule(body.group, body.target, body.schedule,
                                     f"user:{principal.name}")
    except InvalidAccessInput as exc:
        raise unprocessable(exc) from None
    return RuleOut.build(rule)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=NOT_FOUND)
async def delete_rule(rule_id: RowId, principal: AdminOnly, access: Access) -> None:
    await access.delete_rule(rule_id, f"user:{principal.name}")


@router.get("/holidays", response_model=list[dt.date])
async def list_holidays(_: AdminOnly, access: Access) -> list[dt.date]:
    return await access.holidays()


@router.put("/holidays/{day}", status_code=status.HTTP_204_NO_CONTENT)
async def put_holiday(day: dt.date, body: HolidayIn, principal: AdminOnly,
                      access: Access) -> None:
    """Schedules are closed on holidays unless they say ``on_holidays``."""
    await access.put_holiday(day, body.name, f"user:{principal.name}")


@router.delete("/holidays/{day}", status_code=status.HTTP_204_NO_CONTENT,
               responses=NOT_FOUND)
async def delete_holiday(day: dt.date, principal: AdminOnly, access: Access) -> None:
    await access.delete_holiday(day, f"user:{principal.name}")


# -- doors --------------------------------------------------------------------------------------


@router.post("/doors/{device_id}/unlock", response_model=CommandOut,
             responses={**NOT_FOUND, 409: {"model": ErrorOut,
                                           "description": "offline, or not a door"}})
async def unlock(device_id: DeviceId, body: UnlockIn, principal: Facilities,
                 access: Access) -> CommandOut:
    """Unlock a door remotely with a signed command (expires within 10 s, one-time nonce).
    ``status`` says how it ended; a refusal by the lock has its reason in ``error``."""
    try:
        record = await access.unlock(device_id, body.duration_s, f"user:{principal.name}",
                                     body.reason)
    except InvalidAccessInput as exc:
        raise unprocessable(exc) from None
    return CommandOut.build(record)


@router.put("/doors/{device_id}/mode", response_model=ModeOut,
            responses={**NOT_FOUND, 409: {"model": ErrorOut, "description": "not a door"}})
async def set_mode(device_id: DeviceId, body: ModeIn, principal: Facilities,
                   access: Access) -> ModeOut:
    """normal, locked_down (no entry by credential; egress stays free) or free_pass."""
    record = await access.set_mode(device_id, body.mode, f"user:{principal.name}")
    return ModeOut(device_id=device_id, mode=body.mode,
                   command=None if record is None else CommandOut.build(record))


# -- audit --------------------------------------------------------------------------------------


@router.get("/audit", response_model=AuditPage)
async def audit(  # noqa: PLR0917 - FastAPI passes query parameters by name
    _: Facilities, access: Access,
    device_id: Annotated[str | None, Query(max_length=63)] = None,
    person_id: Annotated[str | None, Query(max_length=64)] = None,
    category: AuditCategory | None = None,
    before_id: BeforeId = None, limit: Limit = 100,
) -> AuditPage:
    """Every access decision, door report, command and admin change, newest first."""
    items = await access.audit(device_id=device_id, person_id=person_id, category=category,
                               before_id=before_id, limit=limit)
    return AuditPage(items=[AuditOut.build(e) for e in items],
                     next_before_id=items[-1].id if len(items) == limit else None)
