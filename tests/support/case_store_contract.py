"""What every IntegrationStore must do, as tests: run against MemoryCaseStore (unit) and
PostgresCaseStore (integration), so the fake behaves like the database.

A test module subclasses ``CaseStoreContract`` and provides a ``case_store`` fixture.
"""

from __future__ import annotations

import pytest

from devices.contract import now_ms
from hall_controller.cases.ports import IntegrationStore
from hall_controller.cases.rules import (
    ApiKey,
    Applicant,
    Appointment,
    Case,
    CaseEventType,
    CaseStatus,
    DeliveryAttempt,
    DeliveryStatus,
    Material,
    NewCaseEvent,
    Scope,
    Visit,
)
from hall_controller.kernel.errors import Conflict, NotFound

BASE = now_ms() // 1000 * 1000 - 3_600_000
SECRET = "s" * 40


def a_case(case_id: str = "c-1", **changes: object) -> Case:
    case = Case(case_id=case_id, service_code="student-id", status=CaseStatus.AWAITING_VISIT,
                applicant=Applicant("p-1", "card-1", "李雷"), created_ms=BASE, updated_ms=BASE,
                materials=[Material("photo", "证件照", False), Material("form", "申请表", True)],
                appointment=Appointment(BASE + 60_000, BASE, BASE + 120_000))
    for name, value in changes.items():
        setattr(case, name, value)
    return case


def created(case: Case, at_ms: int = BASE) -> list[NewCaseEvent]:
    return [NewCaseEvent(case.case_id, CaseEventType.CREATED, at_ms, {"case_id": case.case_id})]


def attempt(delivery_id: int, result: DeliveryStatus, at_ms: int, status_code: int | None,
            next_ms: int | None = None, error: str | None = None) -> DeliveryAttempt:
    return DeliveryAttempt(delivery_id=delivery_id, attempt=0, at_ms=at_ms, duration_ms=3,
                           status_code=status_code, error=error, result=result,
                           next_attempt_ms=next_ms)


class CaseStoreContract:
    """The shared behaviour. Subclasses provide the ``case_store`` fixture."""

    async def test_a_saved_case_reads_back_whole(self, case_store: IntegrationStore) -> None:
        case = a_case(visits=[Visit("t-1", BASE + 5, "resolved")], linked_tickets=["t-1"],
                      status_reason="ok", resolved_ms=None)
        await case_store.save_case(case, 0, created(case))
        stored = await case_store.get_case("c-1")
        assert stored == a_case(visits=[Visit("t-1", BASE + 5, "resolved")],
                                linked_tickets=["t-1"], status_reason="ok", version=1)
        assert case.version == 1
        assert await case_store.get_case("nope") is None

    async def test_a_write_from_a_stale_version_is_a_conflict(
        self, case_store: IntegrationStore,
    ) -> None:
        await case_store.save_case(a_case(), 0, created(a_case()))
        with pytest.raises(Conflict):
            await case_store.save_case(a_case(), 0, created(a_case()))
        fresh = await case_store.get_case("c-1")
        assert fresh is not None
        fresh.status = CaseStatus.RESOLVED
        await case_store.save_case(fresh, 1, [])
        fresh.status = CaseStatus.CLOSED
        with pytest.raises(Conflict):
            await case_store.save_case(fresh, 1, [])
        stored = await case_store.get_case("c-1")
        assert stored is not None
        assert (stored.status, stored.version) == (CaseStatus.RESOLVED, 2)
        # The refused writes appended nothing.
        assert len(await case_store.events_after(0, 100)) == 1

    async def test_events_have_increasing_ids_and_follow_the_cursor(
        self, case_store: IntegrationStore,
    ) -> None:
        for n in range(5):
            case = a_case(f"c-{n}")
            await case_store.save_case(case, 0, [
                NewCaseEvent(case.case_id, CaseEventType.CREATED, BASE + n, {"n": n}),
                NewCaseEvent(case.case_id, CaseEventType.TICKET_LINKED, BASE + n,
                             {"ticket_id": f"t-{n}"}),
            ])
        every = await case_store.events_after(0, 100)
        assert [e.data.get("n", e.data.get("ticket_id")) for e in every] == [
            x for n in range(5) for x in (n, f"t-{n}")]
        ids = [e.id for e in every]
        assert ids == sorted(ids) and len(set(ids)) == 10
        page = await case_store.events_after(ids[3], 4)
        assert [e.id for e in page] == ids[4:8]
        assert [e.type for e in await case_store.events_after(0, 10, case_id="c-2")] == [
            CaseEventType.CREATED, CaseEventType.TICKET_LINKED]
        assert await case_store.events_after(ids[-1], 10) == []
        assert every[0].at_ms == BASE

    async def test_cases_are_listed_oldest_first_and_filtered(
        self, case_store: IntegrationStore,
    ) -> None:
        specs = [("c-a", "p-1", "card-1", "student-id", CaseStatus.AWAITING_VISIT),
                 ("c-b", "p-1", "card-1", "dorm", CaseStatus.SUBMITTED),
                 ("c-c", "p-2", "card-2", "student-id", CaseStatus.AWAITING_VISIT),
                 ("c-d", None, "card-1", "student-id", CaseStatus.RESOLVED)]
        for n, (case_id, person, card, service, status) in enumerate(specs):
            case = a_case(case_id, applicant=Applicant(person, card, None), service_code=service,
                          status=status, created_ms=BASE + n)
            await case_store.save_case(case, 0, created(case))

        async def ids(**filters: object) -> list[str]:
            return [c.case_id for c in await case_store.list_cases(**filters)]  # type: ignore[arg-type]

        assert await ids() == ["c-a", "c-b", "c-c", "c-d"]
        assert await ids(person_id="p-1") == ["c-a", "c-b"]
        assert await ids(campus_card="card-1", service_code="student-id") == ["c-a", "c-d"]
        assert await ids(status=CaseStatus.AWAITING_VISIT) == ["c-a", "c-c"]
        assert await ids(limit=2) == ["c-a", "c-b"]

    async def test_one_trip_counts_resolved_cases_in_the_period(
        self, case_store: IntegrationStore,
    ) -> None:
        def visits(n: int) -> list[Visit]:
            return [Visit(f"t-{i}", BASE, "x") for i in range(n)]

        specs = [("one", CaseStatus.RESOLVED, BASE + 10, 1), ("two", CaseStatus.RESOLVED,
                 BASE + 20, 2), ("online", CaseStatus.RESOLVED, BASE + 30, 0),
                 ("late", CaseStatus.RESOLVED, BASE + 10_000, 1),
                 ("open", CaseStatus.AWAITING_VISIT, None, 1)]
        for case_id, status, resolved, n in specs:
            case = a_case(case_id, status=status, resolved_ms=resolved, visits=visits(n))
            await case_store.save_case(case, 0, created(case))
        counts = await case_store.one_trip_counts(BASE, BASE + 1000)
        assert (counts.resolved_with_visit, counts.one_visit, counts.rate) == (2, 1, 0.5)
        everything = await case_store.one_trip_counts(0, BASE + 20_000)
        assert (everything.resolved_with_visit, everything.one_visit) == (3, 2)
        nothing = await case_store.one_trip_counts(0, BASE)
        assert (nothing.resolved_with_visit, nothing.rate) == (0, None)

    async def test_api_keys_round_trip_and_revoke_once(self, case_store: IntegrationStore) -> None:
        key = ApiKey("abc123abc123", "platform", "f" * 64,
                     frozenset({Scope.CASES_READ, Scope.CASES_WRITE}), BASE, "ada")
        await case_store.insert_api_key(key)
        with pytest.raises(Conflict):
            await case_store.insert_api_key(key)
        assert await case_store.get_api_key("abc123abc123") == key
        assert await case_store.list_api_keys() == [key]
        revoked = await case_store.revoke_api_key("abc123abc123", BASE + 5)
        again = await case_store.revoke_api_key("abc123abc123", BASE + 9)
        assert revoked.revoked_ms == again.revoked_ms == BASE + 5
        assert not again.active
        with pytest.raises(NotFound):
            await case_store.revoke_api_key("nope", BASE)

    async def test_each_event_is_queued_for_each_active_webhook(
        self, case_store: IntegrationStore,
    ) -> None:
        first = await case_store.insert_webhook("http://a.test/hook", SECRET, "a", BASE, "ada")
        second = await case_store.insert_webhook("http://b.test/hook", SECRET, "b", BASE, "ada")
        assert (await case_store.get_webhook(first.id)) == first
        assert [w.id for w in await case_store.list_webhooks()] == [first.id, second.id]
        off = await case_store.set_webhook_active(second.id, False)
        assert not off.active
        events = await case_store.save_case(a_case(), 0, created(a_case(), BASE + 7))
        deliveries = await case_store.list_deliveries()
        assert [(d.webhook_id, d.event_id, d.status, d.attempts) for d in deliveries] == [
            (first.id, events[0].id, DeliveryStatus.PENDING, 0)]
        assert deliveries[0].next_attempt_ms == deliveries[0].created_ms == BASE + 7
        with pytest.raises(NotFound):
            await case_store.set_webhook_active(999, True)

    async def test_due_deliveries_are_leased_retried_and_logged(
        self, case_store: IntegrationStore,
    ) -> None:
        hook = await case_store.insert_webhook("http://a.test/hook", SECRET, "", BASE, "ada")
        [event] = await case_store.save_case(a_case(), 0, created(a_case(), BASE))
        now = BASE + 1000
        [due] = await case_store.claim_due_deliveries(now, 60_000, 10)
        assert (due.webhook.url, due.webhook.secret, due.event) == (hook.url, SECRET, event)
        # Leased: nobody else gets it until the lease runs out.
        assert await case_store.claim_due_deliveries(now + 1, 60_000, 10) == []
        await case_store.record_attempt(attempt(due.delivery.id, DeliveryStatus.PENDING, now,
                                                503, next_ms=now + 5000, error="busy"))
        assert await case_store.claim_due_deliveries(now + 4999, 60_000, 10) == []
        [again] = await case_store.claim_due_deliveries(now + 5000, 60_000, 10)
        assert again.delivery.attempts == 1
        await case_store.record_attempt(attempt(due.delivery.id, DeliveryStatus.DELIVERED,
                                                now + 5000, 200))
        # A late answer of an older attempt cannot undo the delivery.
        await case_store.record_attempt(attempt(due.delivery.id, DeliveryStatus.FAILED,
                                                now + 6000, 500))
        delivery = await case_store.get_delivery(due.delivery.id)
        assert delivery is not None
        assert (delivery.status, delivery.attempts, delivery.last_status_code,
                delivery.delivered_ms, delivery.next_attempt_ms, delivery.last_error) == (
            DeliveryStatus.DELIVERED, 2, 200, now + 5000, None, None)
        log = await case_store.list_attempts(due.delivery.id)
        assert [(a.attempt, a.status_code, a.result, a.error) for a in log] == [
            (1, 503, DeliveryStatus.PENDING, "busy"), (2, 200, DeliveryStatus.DELIVERED, None)]
        assert log[0].next_attempt_ms == now + 5000
        assert await case_store.claim_due_deliveries(now + 99_999, 60_000, 10) == []
        assert [d.id for d in await case_store.list_deliveries(
            status=DeliveryStatus.DELIVERED)] == [due.delivery.id]
        assert await case_store.list_deliveries(status=DeliveryStatus.FAILED) == []

    async def test_a_failed_delivery_can_be_made_due_again(
        self, case_store: IntegrationStore,
    ) -> None:
        await case_store.insert_webhook("http://a.test/hook", SECRET, "", BASE, "ada")
        await case_store.save_case(a_case(), 0, created(a_case(), BASE))
        [due] = await case_store.claim_due_deliveries(BASE, 60_000, 10)
        await case_store.record_attempt(attempt(due.delivery.id, DeliveryStatus.FAILED, BASE,
                                                410))
        assert await case_store.claim_due_deliveries(BASE + 10**9, 60_000, 10) == []
        retried = await case_store.retry_delivery(due.delivery.id, BASE + 50)
        assert (retried.status, retried.next_attempt_ms) == (DeliveryStatus.PENDING, BASE + 50)
        assert len(await case_store.claim_due_deliveries(BASE + 50, 60_000, 10)) == 1
        with pytest.raises(NotFound):
            await case_store.retry_delivery(999, BASE)

    async def test_an_inactive_webhook_sends_nothing(self, case_store: IntegrationStore) -> None:
        hook = await case_store.insert_webhook("http://a.test/hook", SECRET, "", BASE, "ada")
        await case_store.save_case(a_case(), 0, created(a_case(), BASE))
        await case_store.set_webhook_active(hook.id, False)
        assert await case_store.claim_due_deliveries(BASE + 1, 60_000, 10) == []
        await case_store.set_webhook_active(hook.id, True)
        assert len(await case_store.claim_due_deliveries(BASE + 1, 60_000, 10)) == 1
