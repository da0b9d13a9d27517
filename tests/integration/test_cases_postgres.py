"""PostgresCaseStore against a real PostgreSQL: the shared contract, then what only the
database has (concurrent writers, the feed under concurrency, append-only events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
import pytest_asyncio

from hall_controller.cases.postgres_store import PostgresCaseStore
from hall_controller.cases.rules import (
    CaseInput,
    CaseStatus,
    CompletionOutcome,
    DeliveryAttempt,
    DeliveryStatus,
)
from hall_controller.cases.service import CaseService
from hall_controller.kernel.postgres.migrate import apply_migrations
from tests.support.case_store_contract import BASE, SECRET, CaseStoreContract, a_case, created

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def case_store(database_url: str) -> AsyncIterator[PostgresCaseStore]:
    async with PostgresCaseStore.connect(database_url, max_size=8) as store:
        yield store


class TestPostgresCaseStoreContract(CaseStoreContract):
    """Everything an IntegrationStore does, against PostgreSQL."""


async def test_case_events_cannot_be_changed_or_deleted(
    case_store: PostgresCaseStore, database_url: str,
) -> None:
    await case_store.save_case(a_case(), 0, created(a_case()))
    with psycopg.connect(database_url) as conn:
        for statement in ("UPDATE case_events SET type = 'x'", "DELETE FROM case_events"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
            conn.rollback()


async def test_upgrading_scrubs_the_answer_bodies_older_versions_stored(
    case_store: PostgresCaseStore, database_url: str,
) -> None:
    """Before 0012 a refusing receiver's body was kept as the attempt's error; an upgraded
    database keeps only the status (errors without one, such as timeouts, stay)."""
    await case_store.insert_webhook("http://a.test/hook", SECRET, "", BASE, "ada")
    await case_store.save_case(a_case(), 0, created(a_case()))
    [delivery] = await case_store.list_deliveries()
    for attempt, status_code, error in ((1, None, "timeout: ReadTimeout"),
                                        (2, 500, "<html>internal console, token=abc</html>")):
        await case_store.record_attempt(DeliveryAttempt(
            delivery_id=delivery.id, attempt=attempt, at_ms=BASE, duration_ms=5,
            status_code=status_code, error=error, result=DeliveryStatus.PENDING,
            next_attempt_ms=BASE + 1000))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = 12")
    assert await apply_migrations(database_url) == ["0012_webhook_no_bodies"]
    log = await case_store.list_attempts(delivery.id)
    assert [(a.status_code, a.error) for a in log] == [
        (None, "timeout: ReadTimeout"), (500, "HTTP 500")]
    [delivery] = await case_store.list_deliveries()
    assert (delivery.last_status_code, delivery.last_error) == (500, "HTTP 500")


async def test_concurrent_changes_to_one_case_are_all_applied(
    case_store: PostgresCaseStore,
) -> None:
    """A platform upsert racing the clerks' completions: the version check makes the loser
    re-read and re-apply, so every visit is counted and no event is lost."""
    service = CaseService(case_store)
    base = a_case()
    await service.upsert(CaseInput(base.case_id, base.service_code, CaseStatus.AWAITING_VISIT,
                                   base.applicant, tuple(base.materials)))
    await asyncio.gather(*(
        service.complete_linked(base.case_id, f"t-{n}", CompletionOutcome.PENDING_MATERIALS,
                                f"missing {n}")
        for n in range(6)))
    case = await service.get(base.case_id)
    assert sorted(v.ticket_id for v in case.visits) == [f"t-{n}" for n in range(6)]
    assert case.status is CaseStatus.MATERIALS_REQUIRED
    page = await service.events_after(0, 1000)
    assert sum(e.type == "case.visit_recorded" for e in page.events) == 6
    assert sum(e.type == "case.ticket_completed" for e in page.events) == 6


async def test_a_reader_following_the_cursor_while_writers_run_misses_nothing(
    case_store: PostgresCaseStore,
) -> None:
    service = CaseService(case_store)
    writers_done = asyncio.Event()
    seen: list[int] = []

    async def write(n: int) -> None:
        case = a_case(f"c-{n}")
        await service.upsert(CaseInput(case.case_id, case.service_code, case.status,
                                       case.applicant))

    async def read() -> None:
        cursor = 0
        while True:
            done = writers_done.is_set()
            page = await service.events_after(cursor, 7)
            seen.extend(e.id for e in page.events)
            cursor = page.next_cursor
            if done and not page.events:
                return
            await asyncio.sleep(0)

    reader = asyncio.create_task(read())
    await asyncio.gather(*(write(n) for n in range(60)))
    writers_done.set()
    await reader
    every = [e.id for e in (await service.events_after(0, 1000)).events]
    assert len(every) == 60
    assert seen == every
