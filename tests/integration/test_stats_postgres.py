"""Daily statistics and the wait estimate's inputs, computed in PostgreSQL, checked against
the figures of tests/support/stats_scenario.py (worked out by hand). Moves are written as the
clerk side writes them: the ticket row and a transition."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest

from hall_controller.cases.integration_keys import ApiKeyService
from hall_controller.cases.postgres_store import PostgresCaseStore
from hall_controller.cases.postgres_ticket_links import PostgresTicketCases
from hall_controller.cases.rules import Applicant, CaseInput, CaseStatus, CompletionOutcome
from hall_controller.cases.service import CaseService
from hall_controller.cases.webhooks import WebhookService
from hall_controller.fleet.model import Role
from hall_controller.queue import rules as queue
from hall_controller.queue.model import Ticket
from hall_controller.queue.postgres_stats import PostgresStatsStore
from hall_controller.queue.stats import StatsService
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.support.hall_store import PostgresHallStore
from tests.support.stats_scenario import (
    DAY,
    SERVICES,
    T0,
    Link,
    Record,
    S,
    a_day_in_the_hall,
    check_day_figures,
    check_wait_inputs,
)
from tests.unit.api_support import FAST_HASHER

pytestmark = pytest.mark.integration


@pytest.fixture
async def hall_store(database_url: str) -> AsyncIterator[PostgresHallStore]:
    async with PostgresHallStore.connect(database_url, min_size=1, max_size=4) as store:
        assert isinstance(store, PostgresHallStore)
        await store.sync_services(SERVICES)
        yield store


def linker(store: PostgresHallStore) -> Link:
    return PostgresTicketCases(store.pool).add_ticket_cases


def recorder(store: PostgresHallStore) -> Record:
    async def record(moved: queue.Moved) -> Ticket:
        """Write a move as the clerk side does: the ticket row and its transition."""
        t, tr = moved
        async with store.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE tickets SET state = %s, window_id = %s, called_at = hall_ts(%s::bigint),"
                " serving_at = hall_ts(%s::bigint), completed_at = hall_ts(%s::bigint),"
                " recalls = %s, outcome = %s WHERE ticket_id = %s",
                (t.state.value, t.window_id, t.called_ms, t.serving_ms, t.completed_ms,
                 t.recalls, t.outcome, t.ticket_id))
            await conn.execute(
                "INSERT INTO ticket_transitions (ticket_id, from_state, to_state, at, actor,"
                " window_id, detail) VALUES (%s, %s, %s, hall_ts(%s::bigint), %s, %s, %s)",
                (tr.ticket_id, None if tr.from_state is None else tr.from_state.value,
                 tr.to_state.value, tr.at_ms, tr.actor, tr.window_id, tr.detail))
        return t

    return record


async def test_service_day_figures_match_the_hand_computed_ones(
        hall_store: PostgresHallStore) -> None:
    await a_day_in_the_hall(hall_store, recorder(hall_store), linker(hall_store))
    stats = PostgresStatsStore(hall_store.pool)
    check_day_figures(await stats.service_day_stats(DAY))
    next_day = {s.service_code: s.tickets for s in await stats.service_day_stats("2026-11-28")}
    assert next_day["student-id"] == 1


async def test_the_wait_estimate_reads_recent_window_times_queue_and_busy_windows(
        hall_store: PostgresHallStore) -> None:
    await a_day_in_the_hall(hall_store, recorder(hall_store), linker(hall_store))
    stats = PostgresStatsStore(hall_store.pool)
    check_wait_inputs(await stats.wait_inputs(DAY, keep=50), await stats.wait_inputs(DAY, keep=1))


async def test_the_stats_endpoint_for_staff_with_the_days_one_trip_rate(
        hall_store: PostgresHallStore) -> None:
    await a_day_in_the_hall(hall_store, recorder(hall_store), linker(hall_store))
    case_store = PostgresCaseStore(hall_store.pool)
    # The case is resolved at the window on DAY, after its only visit.
    cases = CaseService(case_store, clock=lambda: T0 + 700 * S)
    await cases.upsert(CaseInput("C-1", "student-id", CaseStatus.AWAITING_VISIT,
                                 Applicant(person_id="p-1")))
    await cases.complete_linked("C-1", "t-1", CompletionOutcome.RESOLVED)

    app = api_app(
        hall_store, cases, WebhookService(case_store), ApiKeyService(case_store),
        StatsService(PostgresStatsStore(hall_store.pool), "Asia/Shanghai", one_trip=cases,
                     services=SERVICES))
    await ensure_user(hall_store, "clerk1", "clerk-pass-1", Role.CLERK, hasher=FAST_HASHER)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hall/api/v1") as client:
        assert (await client.get("/stats/services", params={"day": DAY})).status_code == 401
        token = (await client.post("/auth/token", data={"username": "clerk1",
                                                        "password": "clerk-pass-1"})
                 ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        bad = await client.get("/stats/services", params={"day": "27.11.2026"}, headers=auth)
        assert bad.status_code == 422
        response = await client.get("/stats/services", params={"day": DAY}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["day"] == DAY and body["timezone"] == "Asia/Shanghai"
    # The service day: 03:00 local (its rollover) to 03:00 the next morning; T0 is 09:00.
    assert (body["from_ms"], body["to_ms"]) == (T0 - 6 * 3600 * S, T0 + 18 * 3600 * S)
    student = next(s for s in body["services"] if s["service_code"] == "student-id")
    assert student["tickets"] == 4 and student["p90_wait_s"] == pytest.approx(862.0)
    assert student["service_level"] == pytest.approx(2 / 3)
    # Pages show names, not codes; and the online cases in the hall.
    assert (student["name"], student["name_en"]) == ("学生证办理", "Student ID card")
    assert (student["linked"], student["pending"]) == (2, 1)
    finance = next(s for s in body["services"] if s["service_code"] == "finance")
    assert (finance["name"], finance["name_en"]) == ("财务缴费", "财务缴费")  # no English name
    assert body["one_trip"] == {"resolved_with_visit": 1, "one_visit": 1, "rate": 1.0}
    assert StatsService(PostgresStatsStore(hall_store.pool), "Asia/Shanghai").day_bounds_ms(
        date(2026, 11, 27)) == (body["from_ms"], body["to_ms"])
