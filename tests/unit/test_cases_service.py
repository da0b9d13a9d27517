"""The case service over the in-memory store: what the platform and the hall would notice."""

from __future__ import annotations

import pytest

from hall_controller.cases.memory_store import MemoryCaseStore
from hall_controller.cases.ports import CaseLinks
from hall_controller.cases.rules import (
    Applicant,
    Appointment,
    Case,
    CaseEvent,
    CaseEventType,
    CaseInput,
    CaseStatus,
    CompletionOutcome,
    IdentityType,
    Material,
    PersonIdentity,
)
from hall_controller.cases.service import CaseService
from hall_controller.kernel.errors import NotFound

T0 = 1_780_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        self.now += 1000
        return self.now


@pytest.fixture
def store() -> MemoryCaseStore:
    return MemoryCaseStore()


@pytest.fixture
def service(store: MemoryCaseStore) -> CaseService:
    return CaseService(store, clock=Clock())


def case_input(case_id: str = "c-1", status: CaseStatus = CaseStatus.AWAITING_VISIT,
               service_code: str = "student-id", person_id: str | None = "p-1",
               campus_card: str | None = "card-1", **changes: object) -> CaseInput:
    values: dict[str, object] = {
        "case_id": case_id, "service_code": service_code, "status": status,
        "applicant": Applicant(person_id, campus_card, "韩梅梅"),
        "materials": (Material("photo", "证件照"), Material("form", "申请表", True)),
        "appointment": None, "status_reason": None,
    }
    values.update(changes)
    return CaseInput(**values)  # type: ignore[arg-type]


def types(events: list[CaseEvent]) -> list[str]:
    return [e.type.value for e in events]


async def test_an_upsert_creates_the_case_and_one_created_event(service: CaseService) -> None:
    result = await service.upsert(case_input())
    assert result.created
    assert types(result.events) == ["case.created"]
    assert result.events[0].data["materials"] == [
        {"code": "photo", "name": "证件照", "received": False},
        {"code": "form", "name": "申请表", "received": True}]
    case = await service.get("c-1")
    assert (case.status, case.visit_count, case.version) == (CaseStatus.AWAITING_VISIT, 0, 1)


async def test_the_same_upsert_again_changes_nothing_and_emits_nothing(
    service: CaseService, store: MemoryCaseStore,
) -> None:
    await service.upsert(case_input())
    again = await service.upsert(case_input())
    assert not again.created
    assert again.events == []
    assert again.case.version == 1
    assert len(store.events) == 1


async def test_each_kind_of_change_has_its_event(service: CaseService) -> None:
    await service.upsert(case_input(status=CaseStatus.IN_REVIEW))
    changed = await service.upsert(case_input(
        status=CaseStatus.MATERIALS_REQUIRED, status_reason="照片不清晰",
        materials=(Material("photo", "证件照"), Material("form", "申请表", False)),
        appointment=Appointment(T0 + 10**6, T0, T0 + 2 * 10**6)))
    assert types(changed.events) == ["case.updated", "case.status_changed",
                                     "case.materials_updated"]
    assert changed.events[1].data == {"from": "in_review", "to": "materials_required",
                                      "reason": "照片不清晰"}
    assert changed.events[0].data["appointment"]["at_ms"] == T0 + 10**6


async def test_open_cases_for_finds_the_visitors_cases_that_need_a_visit(
    service: CaseService,
) -> None:
    await service.upsert(case_input("mine"))
    await service.upsert(case_input("pending", status=CaseStatus.MATERIALS_REQUIRED))
    await service.upsert(case_input("in-review", status=CaseStatus.IN_REVIEW))
    await service.upsert(case_input("done", status=CaseStatus.RESOLVED))
    await service.upsert(case_input("other-service", service_code="dorm"))
    await service.upsert(case_input("someone-else", person_id="p-2", campus_card="card-2"))

    def ids(cases: list[Case]) -> list[str]:
        return [c.case_id for c in cases]

    by_person = await service.open_cases_for(PersonIdentity(IdentityType.PERSON_ID, "p-1"),
                                             "student-id")
    assert ids(by_person) == ["mine", "pending"]
    by_card = await service.open_cases_for(PersonIdentity(IdentityType.CAMPUS_CARD, "card-1"),
                                           "student-id")
    assert ids(by_card) == ["mine", "pending"]
    by_face = await service.open_cases_for(PersonIdentity(IdentityType.FACE, "p-2"),
                                           "student-id")
    assert ids(by_face) == ["someone-else"]
    by_qr = await service.open_cases_for(PersonIdentity(IdentityType.QR, "pending"),
                                         "student-id")
    assert ids(by_qr) == ["pending"]
    assert await service.open_cases_for(PersonIdentity(IdentityType.QR, "pending"),
                                        "dorm") == []
    assert await service.open_cases_for(PersonIdentity(IdentityType.QR, "in-review"),
                                        "student-id") == []


async def test_completing_a_linked_ticket_resolves_the_case_and_counts_one_visit(
    service: CaseService, store: MemoryCaseStore,
) -> None:
    await service.upsert(case_input())
    await service.link_ticket("c-1", "t-1", "A012")
    case = await service.complete_linked("c-1", "t-1", CompletionOutcome.RESOLVED)
    assert case.status is CaseStatus.RESOLVED
    assert case.status_reason == "certificate collected"
    assert all(m.received for m in case.materials)
    assert case.visit_count == 1
    assert case.resolved_ms is not None
    assert types(store.events[1:]) == [
        "case.ticket_linked", "case.visit_recorded", "case.materials_updated",
        "case.status_changed", "case.ticket_completed"]
    assert store.events[1].data == {"ticket_id": "t-1", "ticket": "A012"}
    assert store.events[-1].data == {"ticket_id": "t-1", "outcome": "resolved",
                                     "reason": None, "status": "resolved"}
    # The clerk's terminal retried: nothing more happens.
    await service.complete_linked("c-1", "t-1", CompletionOutcome.RESOLVED)
    await service.link_ticket("c-1", "t-1", "A012")
    assert len(store.events) == 6


async def test_pending_materials_sends_the_case_back_with_the_reason_and_a_second_trip_counts(
    service: CaseService,
) -> None:
    await service.upsert(case_input())
    pending = await service.complete_linked("c-1", "t-1", CompletionOutcome.PENDING_MATERIALS,
                                            "缺少户口本复印件")
    assert (pending.status, pending.status_reason) == (CaseStatus.MATERIALS_REQUIRED,
                                                       "缺少户口本复印件")
    assert pending.linked_tickets == ["t-1"]
    resolved = await service.complete_linked("c-1", "t-2", CompletionOutcome.RESOLVED)
    assert resolved.visit_count == 2
    counts = await service.one_trip(0, 2**62)
    assert (counts.resolved_with_visit, counts.one_visit, counts.rate) == (1, 0, 0.0)


async def test_the_one_trip_rate(service: CaseService) -> None:
    for n in range(4):
        await service.upsert(case_input(f"c-{n}"))
        await service.complete_linked(f"c-{n}", f"t-{n}", CompletionOutcome.RESOLVED)
    await service.upsert(case_input("twice"))
    await service.record_visit("twice", "t-a", "pending_materials")
    await service.complete_linked("twice", "t-b", CompletionOutcome.RESOLVED)
    await service.upsert(case_input("online-only", status=CaseStatus.RESOLVED))
    counts = await service.one_trip(0, 2**62)
    assert (counts.resolved_with_visit, counts.one_visit, counts.rate) == (5, 4, 0.8)


async def test_a_visit_is_counted_once_per_ticket(service: CaseService) -> None:
    await service.upsert(case_input())
    await service.record_visit("c-1", "t-1", "served")
    await service.record_visit("c-1", "t-1", "served")
    assert (await service.get("c-1")).visit_count == 1
    # A visit already recorded can still be completed afterwards.
    case = await service.complete_linked("c-1", "t-1", CompletionOutcome.RESOLVED)
    assert (case.status, case.visit_count) == (CaseStatus.RESOLVED, 1)


async def test_a_platform_upsert_keeps_the_halls_visits(service: CaseService) -> None:
    await service.upsert(case_input())
    await service.complete_linked("c-1", "t-1", CompletionOutcome.PENDING_MATERIALS, "缺照片")
    updated = await service.upsert(case_input(status=CaseStatus.AWAITING_VISIT))
    assert updated.case.visit_count == 1
    assert updated.case.linked_tickets == ["t-1"]


async def test_unknown_cases_are_not_found(service: CaseService) -> None:
    with pytest.raises(NotFound):
        await service.get("nope")
    with pytest.raises(NotFound):
        await service.complete_linked("nope", "t-1", CompletionOutcome.RESOLVED)
    with pytest.raises(NotFound):
        await service.link_ticket("nope", "t-1")


async def test_the_feed_pages_with_its_cursor_and_listeners_hear_new_events(
    service: CaseService,
) -> None:
    heard: list[int] = []
    service.subscribe(lambda events: heard.extend(e.id for e in events))
    for n in range(5):
        await service.upsert(case_input(f"c-{n}"))
    first = await service.events_after(0, 3)
    assert [e.case_id for e in first.events] == ["c-0", "c-1", "c-2"]
    second = await service.events_after(first.next_cursor, 3)
    assert [e.case_id for e in second.events] == ["c-3", "c-4"]
    empty = await service.events_after(second.next_cursor, 3)
    assert (empty.events, empty.next_cursor) == ([], second.next_cursor)
    assert heard == [e.id for e in first.events + second.events]
    assert all(e.type is CaseEventType.CREATED for e in first.events)


def test_the_case_service_is_what_the_queue_engine_expects(service: CaseService) -> None:
    links: CaseLinks = service   # mypy checks the Protocol; this documents it
    assert links is service
