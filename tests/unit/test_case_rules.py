"""Case rules (domain.cases): the case the platform reads back and the events its feed and
webhooks carry after each upsert, link, visit and completion, and what counts for the
one-trip rate."""

from __future__ import annotations

import copy

from hall_controller.cases.rules import (
    Applicant,
    Appointment,
    Case,
    CaseEventType,
    CaseInput,
    CaseStatus,
    CompletionOutcome,
    Material,
    NewCaseEvent,
    Visit,
    apply_completion,
    apply_link,
    apply_upsert,
    apply_visit,
)

T0 = 1_780_000_000_000
HAN = Applicant("p-1", "card-1", "韩梅梅")
PHOTO, FORM = Material("photo", "证件照"), Material("form", "申请表", True)
SLOT = Appointment(T0 + 3_600_000, T0 + 3_000_000, T0 + 4_200_000)


def case_input(status: CaseStatus = CaseStatus.AWAITING_VISIT, **changes: object) -> CaseInput:
    values: dict[str, object] = {"case_id": "c-1", "service_code": "student-id", "status": status,
                                 "applicant": HAN, "materials": (PHOTO, FORM),
                                 "appointment": SLOT, "status_reason": "请来大厅领取"}
    values.update(changes)
    return CaseInput(**values)  # type: ignore[arg-type]


def created(status: CaseStatus = CaseStatus.AWAITING_VISIT, **changes: object) -> Case:
    return apply_upsert(None, case_input(status, **changes), T0)[0]


def test_a_new_case_is_created_as_sent_with_one_event_carrying_all_of_it() -> None:
    case, events = apply_upsert(None, case_input(), T0)
    assert case == Case(case_id="c-1", service_code="student-id", status=CaseStatus.AWAITING_VISIT,
                        applicant=HAN, created_ms=T0, updated_ms=T0, materials=[PHOTO, FORM],
                        appointment=SLOT, status_reason="请来大厅领取", resolved_ms=None)
    assert events == [NewCaseEvent("c-1", CaseEventType.CREATED, T0, {
        "case_id": "c-1", "service_code": "student-id", "status": "awaiting_visit",
        "status_reason": "请来大厅领取",
        "applicant": {"person_id": "p-1", "campus_card": "card-1", "name": "韩梅梅"},
        "materials": [{"code": "photo", "name": "证件照", "received": False},
                      {"code": "form", "name": "申请表", "received": True}],
        "appointment": {"at_ms": T0 + 3_600_000, "window_start_ms": T0 + 3_000_000,
                        "window_end_ms": T0 + 4_200_000}})]


def test_a_case_created_resolved_counts_as_resolved_from_its_creation() -> None:
    assert created(CaseStatus.RESOLVED).resolved_ms == T0
    assert created(CaseStatus.IN_REVIEW).resolved_ms is None


def test_each_change_of_an_upsert_is_told_with_its_new_value() -> None:
    case = created()
    other = Applicant("p-1", "card-9", "韩梅梅")
    later = Appointment(T0 + 7_200_000)
    updated, events = apply_upsert(case, case_input(
        CaseStatus.MATERIALS_REQUIRED, service_code="dorm", applicant=other, appointment=later,
        status_reason="照片不清晰", materials=(PHOTO, Material("form", "申请表", False))), T0 + 5)
    assert events == [
        NewCaseEvent("c-1", CaseEventType.UPDATED, T0 + 5, {
            "service_code": "dorm",
            "applicant": {"person_id": "p-1", "campus_card": "card-9", "name": "韩梅梅"},
            "appointment": {"at_ms": T0 + 7_200_000, "window_start_ms": None, "window_end_ms": None}}),
        NewCaseEvent("c-1", CaseEventType.STATUS_CHANGED, T0 + 5, {
            "from": "awaiting_visit", "to": "materials_required", "reason": "照片不清晰"}),
        NewCaseEvent("c-1", CaseEventType.MATERIALS_UPDATED, T0 + 5, {"materials": [
            {"code": "photo", "name": "证件照", "received": False},
            {"code": "form", "name": "申请表", "received": False}]}),
    ]
    assert (updated.service_code, updated.applicant, updated.appointment) == ("dorm", other, later)
    assert (updated.updated_ms, updated.created_ms) == (T0 + 5, T0)
    assert case.service_code == "student-id", "the case passed in is left as it was"


def test_a_new_reason_with_the_same_status_is_a_status_change_too() -> None:
    case = created(CaseStatus.MATERIALS_REQUIRED, status_reason="缺照片")
    _, events = apply_upsert(case, case_input(CaseStatus.MATERIALS_REQUIRED,
                                              status_reason="缺户口本"), T0 + 5)
    assert events == [NewCaseEvent("c-1", CaseEventType.STATUS_CHANGED, T0 + 5, {
        "from": "materials_required", "to": "materials_required", "reason": "缺户口本"})]


def test_a_resolved_case_keeps_its_resolution_time_until_it_is_reopened() -> None:
    case = created(CaseStatus.IN_REVIEW)
    resolved, _ = apply_upsert(case, case_input(CaseStatus.RESOLVED, status_reason="ok"), T0 + 5)
    assert resolved.resolved_ms == T0 + 5
    # The platform rewords the reason a day later: still resolved on the first day.
    reworded, events = apply_upsert(resolved, case_input(CaseStatus.RESOLVED,
                                                         status_reason="已领取"), T0 + 86_400_000)
    assert [e.type for e in events] == [CaseEventType.STATUS_CHANGED]
    assert reworded.resolved_ms == T0 + 5
    # Reopened: no longer counts as resolved for the one-trip rate.
    reopened, _ = apply_upsert(reworded, case_input(CaseStatus.MATERIALS_REQUIRED), T0 + 9)
    assert reopened.resolved_ms is None


def test_linking_a_ticket_is_told_once_and_leaves_the_case_passed_in_alone() -> None:
    case = created()
    before = copy.deepcopy(case)
    linked, events = apply_link(case, "t-1", "A012", T0 + 7)
    assert events == [NewCaseEvent("c-1", CaseEventType.TICKET_LINKED, T0 + 7,
                                   {"ticket_id": "t-1", "ticket": "A012"})]
    assert (linked.linked_tickets, linked.updated_ms) == (["t-1"], T0 + 7)
    assert case == before
    assert apply_link(linked, "t-1", "A012", T0 + 8) == (linked, [])


def test_a_visit_is_recorded_with_its_ticket_time_and_outcome() -> None:
    case = created()
    before = copy.deepcopy(case)
    visited, events = apply_visit(case, "t-1", "served", T0 + 7)
    assert visited.visits == [Visit("t-1", T0 + 7, "served")]
    assert visited.updated_ms == T0 + 7
    assert events == [NewCaseEvent("c-1", CaseEventType.VISIT_RECORDED, T0 + 7,
                                   {"ticket_id": "t-1", "outcome": "served", "visit_count": 1})]
    assert case == before


def test_a_resolving_completion_verifies_the_materials_and_tells_each_step() -> None:
    case, _ = apply_link(created(), "t-1", "A012", T0 + 1)
    done, events = apply_completion(case, "t-1", CompletionOutcome.RESOLVED, None, T0 + 9)
    assert events == [
        NewCaseEvent("c-1", CaseEventType.VISIT_RECORDED, T0 + 9,
                     {"ticket_id": "t-1", "outcome": "resolved", "visit_count": 1}),
        NewCaseEvent("c-1", CaseEventType.MATERIALS_UPDATED, T0 + 9, {"materials": [
            {"code": "photo", "name": "证件照", "received": True},
            {"code": "form", "name": "申请表", "received": True}]}),
        NewCaseEvent("c-1", CaseEventType.STATUS_CHANGED, T0 + 9, {
            "from": "awaiting_visit", "to": "resolved", "reason": "certificate collected"}),
        NewCaseEvent("c-1", CaseEventType.TICKET_COMPLETED, T0 + 9, {
            "ticket_id": "t-1", "outcome": "resolved", "reason": None, "status": "resolved"}),
    ]
    assert (done.visits, done.resolved_ms, done.updated_ms) == (
        [Visit("t-1", T0 + 9, "resolved")], T0 + 9, T0 + 9)


def test_a_pending_materials_completion_sends_the_case_back_and_a_retry_adds_nothing() -> None:
    case = created()
    pending, events = apply_completion(case, "t-1", CompletionOutcome.PENDING_MATERIALS, "缺照片",
                                       T0 + 9)
    assert [(e.type, e.at_ms) for e in events] == [
        (CaseEventType.VISIT_RECORDED, T0 + 9), (CaseEventType.STATUS_CHANGED, T0 + 9),
        (CaseEventType.TICKET_COMPLETED, T0 + 9)]
    assert events[1].data == {"from": "awaiting_visit", "to": "materials_required",
                              "reason": "缺照片"}
    assert pending.visits == [Visit("t-1", T0 + 9, "pending_materials")]
    assert (pending.linked_tickets, pending.updated_ms) == (["t-1"], T0 + 9)
    # The clerk's terminal retried the same completion.
    assert apply_completion(pending, "t-1", CompletionOutcome.PENDING_MATERIALS, "缺照片",
                            T0 + 10) == (pending, [])


def test_completing_a_ticket_whose_visit_was_already_counted_leaves_the_case_passed_in_alone() -> None:
    visited, _ = apply_visit(created(), "t-1", "served", T0 + 5)
    before = copy.deepcopy(visited)
    done, events = apply_completion(visited, "t-1", CompletionOutcome.RESOLVED, "ok", T0 + 9)
    assert done.visit_count == 1 and done.linked_tickets == ["t-1"]
    assert CaseEventType.VISIT_RECORDED not in [e.type for e in events]
    assert visited == before
