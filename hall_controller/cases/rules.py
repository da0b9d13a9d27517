"""Online cases (一网通办) and the records of the integration with the online platform.

Pure: records, statuses and the rules that turn a change of a case into the case events the
platform is told about.  The online platform owns a case (it upserts it); the hall adds what
happened in person: visits, linked tickets, completions.  Every change appends events, which
feed both the cursor feed and the signed webhooks.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class CaseStatus(StrEnum):
    SUBMITTED = "submitted"
    MATERIALS_REQUIRED = "materials_required"
    IN_REVIEW = "in_review"
    AWAITING_VISIT = "awaiting_visit"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    CLOSED = "closed"


FINAL_CASE_STATUSES = frozenset({CaseStatus.RESOLVED, CaseStatus.REJECTED, CaseStatus.CLOSED})

# The statuses in which the applicant has to come to the hall: to collect the result
# (awaiting_visit) or to bring what is missing (materials_required). A kiosk links a ticket to
# these; a case still in review online needs no trip, so linking it would mislead the clerk.
NEEDS_VISIT_STATUSES = frozenset({CaseStatus.AWAITING_VISIT, CaseStatus.MATERIALS_REQUIRED})


class CaseEventType(StrEnum):
    CREATED = "case.created"
    UPDATED = "case.updated"                      # applicant, service or appointment changed
    STATUS_CHANGED = "case.status_changed"
    MATERIALS_UPDATED = "case.materials_updated"
    VISIT_RECORDED = "case.visit_recorded"
    TICKET_LINKED = "case.ticket_linked"
    TICKET_COMPLETED = "case.ticket_completed"


class CompletionOutcome(StrEnum):
    """How the clerk completed a ticket linked to a case."""

    RESOLVED = "resolved"                    # materials verified, certificate collected
    PENDING_MATERIALS = "pending_materials"  # something is missing: the case waits for it


class IdentityType(StrEnum):
    """How a visitor identified themselves (the kiosk's ``identity.type``)."""

    CAMPUS_CARD = "campus_card"
    QR = "qr"                # the QR code of an online case: its value is the case id
    FACE = "face"            # the face gate / kiosk resolved the face to a person id
    PERSON_ID = "person_id"


@dataclass(frozen=True, slots=True)
class PersonIdentity:
    type: IdentityType
    value: str


@dataclass(frozen=True, slots=True)
class Applicant:
    person_id: str | None = None
    campus_card: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Material:
    code: str
    name: str
    received: bool = False


@dataclass(frozen=True, slots=True)
class Appointment:
    at_ms: int
    window_start_ms: int | None = None
    window_end_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Visit:
    """One trip to the hall for this case, identified by the ticket that served it."""

    ticket_id: str
    at_ms: int
    outcome: str


@dataclass(frozen=True, slots=True)
class CaseInput:
    """What the platform says a case is (the body of an upsert)."""

    case_id: str
    service_code: str
    status: CaseStatus
    applicant: Applicant
    materials: tuple[Material, ...] = ()
    appointment: Appointment | None = None
    status_reason: str | None = None


@dataclass(slots=True)
class Case:
    case_id: str
    service_code: str
    status: CaseStatus
    applicant: Applicant
    created_ms: int
    updated_ms: int
    materials: list[Material] = field(default_factory=list)
    appointment: Appointment | None = None
    status_reason: str | None = None
    visits: list[Visit] = field(default_factory=list)
    linked_tickets: list[str] = field(default_factory=list)
    resolved_ms: int | None = None
    version: int = 0   # bumped by every write; stores refuse a write based on a stale version

    @property
    def visit_count(self) -> int:
        return len(self.visits)

    def needs_visit(self) -> bool:
        return self.status in NEEDS_VISIT_STATUSES

    def matches(self, identity: PersonIdentity) -> bool:
        """Whether ``identity`` names this case's applicant (or, for a QR code, this case)."""
        match identity.type:
            case IdentityType.PERSON_ID | IdentityType.FACE:
                return self.applicant.person_id == identity.value
            case IdentityType.CAMPUS_CARD:
                return self.applicant.campus_card == identity.value
            case IdentityType.QR:
                return self.case_id == identity.value


@dataclass(frozen=True, slots=True)
class NewCaseEvent:
    """An event about to be appended (the store assigns id)."""

    case_id: str
    type: CaseEventType
    at_ms: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CaseEvent:
    id: int            # strictly increasing in commit order: the feed's cursor
    case_id: str
    type: CaseEventType
    at_ms: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OneTripCounts:
    resolved_with_visit: int   # resolved cases with at least one visit
    one_visit: int             # ... of which exactly one

    @property
    def rate(self) -> float | None:
        return None if not self.resolved_with_visit else self.one_visit / self.resolved_with_visit


# --- integration clients ---------------------------------------------------------------------


class Scope(StrEnum):
    CASES_READ = "cases:read"
    CASES_WRITE = "cases:write"
    EVENTS_READ = "events:read"


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str                 # public part of the key, used to look it up
    name: str
    secret_hash: str            # sha256 hex of the secret part; the secret itself is not kept
    scopes: frozenset[Scope]
    created_ms: int
    created_by: str
    revoked_ms: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_ms is None


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    url: str
    # Kept in clear: signing needs it (an HMAC key cannot be hashed away). Never returned by the
    # API after registration.
    secret: str = field(repr=False)
    description: str
    active: bool
    created_ms: int
    created_by: str


class DeliveryStatus(StrEnum):
    PENDING = "pending"        # not yet accepted by the receiver; next_attempt_ms says when
    DELIVERED = "delivered"    # the receiver answered 2xx
    FAILED = "failed"          # gave up: a permanent refusal (4xx) or out of attempts


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: int
    event_id: int
    status: DeliveryStatus
    attempts: int
    created_ms: int
    next_attempt_ms: int | None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """The outcome of one POST (and what the delivery becomes after it)."""

    delivery_id: int
    attempt: int
    at_ms: int
    duration_ms: int
    status_code: int | None
    error: str | None
    result: DeliveryStatus
    next_attempt_ms: int | None


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery claimed for sending, with what sending it needs."""

    delivery: Delivery
    webhook: Webhook
    event: CaseEvent


# --- rules -------------------------------------------------------------------------------------


def _applicant_data(applicant: Applicant) -> dict[str, Any]:
    return {"person_id": applicant.person_id, "campus_card": applicant.campus_card,
            "name": applicant.name}


def _appointment_data(appointment: Appointment | None) -> dict[str, Any] | None:
    if appointment is None:
        return None
    return {"at_ms": appointment.at_ms, "window_start_ms": appointment.window_start_ms,
            "window_end_ms": appointment.window_end_ms}


def materials_data(materials: list[Material] | tuple[Material, ...]) -> list[dict[str, Any]]:
    return [{"code": m.code, "name": m.name, "received": m.received} for m in materials]


def case_snapshot(case: Case) -> dict[str, Any]:
    """The case as the platform sees it in a ``case.created`` event."""
    return {
        "case_id": case.case_id, "service_code": case.service_code, "status": case.status.value,
        "status_reason": case.status_reason, "applicant": _applicant_data(case.applicant),
        "materials": materials_data(case.materials),
        "appointment": _appointment_data(case.appointment),
    }


def _set_status(case: Case, status: CaseStatus, reason: str | None, at_ms: int,
                events: list[NewCaseEvent]) -> None:
    if case.status == status and case.status_reason == reason:
        return
    events.append(NewCaseEvent(case.case_id, CaseEventType.STATUS_CHANGED, at_ms,
                               {"from": case.status.value, "to": status.value, "reason": reason}))
    if status is CaseStatus.RESOLVED and case.status is not CaseStatus.RESOLVED:
        case.resolved_ms = at_ms
    elif status is not CaseStatus.RESOLVED:
        # Reopened: it no longer counts as resolved for the one-trip rate until resolved again.
        case.resolved_ms = None
    case.status = status
    case.status_reason = reason


def apply_upsert(existing: Case | None, incoming: CaseInput, at_ms: int,
                 ) -> tuple[Case, list[NewCaseEvent]]:
    """The case after the platform's upsert, and the events it causes.

    Idempotent: the same input applied to its own result gives no events (and the caller then
    writes nothing). Visits and linked tickets are the hall's and survive any upsert.
    """
    if existing is None:
        case = Case(case_id=incoming.case_id, service_code=incoming.service_code,
                    status=incoming.status, applicant=incoming.applicant, created_ms=at_ms,
                    updated_ms=at_ms, materials=list(incoming.materials),
                    appointment=incoming.appointment, status_reason=incoming.status_reason,
                    resolved_ms=at_ms if incoming.status is CaseStatus.RESOLVED else None)
        return case, [NewCaseEvent(case.case_id, CaseEventType.CREATED, at_ms,
                                   case_snapshot(case))]
    case = copy.deepcopy(existing)
    events: list[NewCaseEvent] = []
    changed: dict[str, Any] = {}
    if case.service_code != incoming.service_code:
        changed["service_code"] = incoming.service_code
        case.service_code = incoming.service_code
    if case.applicant != incoming.applicant:
        changed["applicant"] = _applicant_data(incoming.applicant)
        case.applicant = incoming.applicant
    if case.appointment != incoming.appointment:
        changed["appointment"] = _appointment_data(incoming.appointment)
        case.appointment = incoming.appointment
    if changed:
        events.append(NewCaseEvent(case.case_id, CaseEventType.UPDATED, at_ms, changed))
    _set_status(case, incoming.status, incoming.status_reason, at_ms, events)
    if tuple(case.materials) != incoming.materials:
        case.materials = list(incoming.materials)
        events.append(NewCaseEvent(case.case_id, CaseEventType.MATERIALS_UPDATED, at_ms,
                                   {"materials": materials_data(case.materials)}))
    if events:
        case.updated_ms = at_ms
    return case, events


def apply_link(existing: Case, ticket_id: str, ticket_number: str | None, at_ms: int,
               ) -> tuple[Case, list[NewCaseEvent]]:
    """Link a ticket to the case; linking the same ticket again changes nothing."""
    if ticket_id in existing.linked_tickets:
        return existing, []
    case = copy.deepcopy(existing)
    case.linked_tickets.append(ticket_id)
    case.updated_ms = at_ms
    return case, [NewCaseEvent(case.case_id, CaseEventType.TICKET_LINKED, at_ms,
                               {"ticket_id": ticket_id, "ticket": ticket_number})]


def apply_visit(existing: Case, ticket_id: str, outcome: str, at_ms: int,
                ) -> tuple[Case, list[NewCaseEvent]]:
    """Count one in-person visit, identified by its ticket: the same ticket counts once."""
    if any(v.ticket_id == ticket_id for v in existing.visits):
        return existing, []
    case = copy.deepcopy(existing)
    case.visits.append(Visit(ticket_id, at_ms, outcome))
    case.updated_ms = at_ms
    return case, [NewCaseEvent(case.case_id, CaseEventType.VISIT_RECORDED, at_ms,
                               {"ticket_id": ticket_id, "outcome": outcome,
                                "visit_count": case.visit_count})]


def apply_completion(existing: Case, ticket_id: str, outcome: CompletionOutcome,
                     reason: str | None, at_ms: int) -> tuple[Case, list[NewCaseEvent]]:
    """The clerk completed the ticket linked to this case: count the visit, advance the case.

    Resolved: every material is taken as verified and the case is resolved (certificate
    collected). Pending materials: back to ``materials_required`` with the reason. Repeating
    the same completion of the same ticket changes nothing.
    """
    target = (CaseStatus.RESOLVED if outcome is CompletionOutcome.RESOLVED
              else CaseStatus.MATERIALS_REQUIRED)
    if any(v.ticket_id == ticket_id for v in existing.visits) and existing.status is target:
        # Already done (a retried call): the visit is counted and the case already says so.
        return existing, []
    case, events = apply_visit(existing, ticket_id, outcome.value, at_ms)
    case = copy.deepcopy(case)
    if ticket_id not in case.linked_tickets:
        case.linked_tickets.append(ticket_id)
    if outcome is CompletionOutcome.RESOLVED:
        verified = [replace(m, received=True) for m in case.materials]
        if verified != case.materials:
            case.materials = verified
            events.append(NewCaseEvent(case.case_id, CaseEventType.MATERIALS_UPDATED, at_ms,
                                       {"materials": materials_data(verified)}))
        _set_status(case, CaseStatus.RESOLVED, reason or "certificate collected", at_ms, events)
    else:
        _set_status(case, CaseStatus.MATERIALS_REQUIRED, reason, at_ms, events)
    events.append(NewCaseEvent(case.case_id, CaseEventType.TICKET_COMPLETED, at_ms,
                               {"ticket_id": ticket_id, "outcome": outcome.value,
                                "reason": reason, "status": case.status.value}))
    case.updated_ms = at_ms
    return case, events

