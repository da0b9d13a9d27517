"""The demo's hall day over the memory stores: the replay through the real services shows
waits of minutes with a morning peak, online cases linked to tickets, pending materials,
second visits and a one-trip rate; the simulated online platform works through the
integration API with an API key."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from statistics import mean
from zoneinfo import ZoneInfo

import httpx
import pytest

from hall.config import HallConfig, load_config
from hall.demo import demo_plans, replay_span
from hall.settings import clerk_settings, queue_settings
from hall_controller.cases.integration_keys import ApiKeyService
from hall_controller.cases.memory_store import MemoryCaseStore
from hall_controller.cases.rules import CaseStatus, CompletionOutcome, Scope
from hall_controller.cases.service import CaseService
from hall_controller.cases.webhooks import WebhookService
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.queue.memory_moves import MemoryTicketMoves
from hall_controller.queue.memory_stats import MemoryStatsStore
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.model import TicketState
from hall_controller.queue.stats import DayReport, StatsService
from simulators.hall_replay import QUIETED_LOGGERS, ReplayResult, build_replay
from simulators.online_platform import HttpCaseDesk, OnlinePlatform, on_their_way
from tests.support.api_app import api_app

ROOT = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 30)   # a Monday
MIN = 60.0


def local_ms(day: date, at: time) -> int:
    return int(datetime.combine(day, at, tzinfo=ZONE).timestamp() * 1000)


def local_hour(at_ms: int) -> int:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(ZONE).hour


class MemoryTicketCases:
    """Where ticket.take records the linked cases on the ticket (the memory side of
    ``PostgresTicketCases``)."""

    def __init__(self, tickets: MemoryTicketStore) -> None:
        self._tickets = tickets

    async def add_ticket_cases(self, ticket_id: str, case_ids: Sequence[str]) -> None:
        ticket = self._tickets.tickets[ticket_id]
        ticket.case_ids.extend(c for c in case_ids if c not in ticket.case_ids)


@dataclass
class Day:
    result: ReplayResult
    report: DayReport
    tickets: MemoryTicketStore
    cases: MemoryCaseStore


@pytest.fixture(scope="module")
def config() -> HallConfig:
    """The demo as shipped: config.toml's [queue] and [demo]."""
    return load_config(ROOT / "config.toml")


async def replay(config: HallConfig, until: time = time(17, 30), *, drain: bool = True) -> Day:
    tickets = MemoryTicketStore()
    cases = MemoryCaseStore()
    run = build_replay(tickets=tickets, reader=tickets, moves=MemoryTicketMoves(tickets),
                       cases=cases, ticket_cases=MemoryTicketCases(tickets),
                       queue=queue_settings(config.queue), clerk=clerk_settings(config.queue),
                       plan=demo_plans(config).replay(), seed=f"test:{DAY}")
    result = await run.run(local_ms(DAY, config.queue.opens), local_ms(DAY, until), drain=drain)
    stats = StatsService(MemoryStatsStore(tickets), config.queue.timezone,
                         one_trip=CaseService(cases), services=queue_settings(config.queue).services)
    return Day(result, await stats.day(DAY), tickets, cases)


@pytest.fixture(scope="module")
def whole_day(config: HallConfig) -> Day:
    """One whole day, replayed once for the tests that only read it."""
    return asyncio.run(replay(config))


async def test_a_replayed_day_waits_minutes_with_a_morning_peak(whole_day: Day) -> None:
    services = {s.service_code: s for s in whole_day.report.services}
    assert sorted(services) == ["dorm", "finance", "student-id", "transcript"]
    for code, s in services.items():
        assert s.tickets >= 50, code      # a day of a campus hall, not a handful
        assert s.mean_wait_s is not None and s.mean_wait_s >= 2 * MIN, (code, s.mean_wait_s)
        assert s.p90_wait_s is not None and s.p90_wait_s >= 5 * MIN, (code, s.p90_wait_s)
        # 4-minute services (exponential), as configured: minutes, not seconds.
        assert s.mean_service_s is not None and 2.5 * MIN <= s.mean_service_s <= 6 * MIN, code
        assert s.service_level is not None and s.service_level < 1.0, code
    # The morning peak: the busiest hour is in the morning, the morning brings more visitors
    # than the early afternoon, and its queue makes them wait minutes.
    called = [t for t in whole_day.tickets.tickets.values() if t.called_ms is not None]
    per_hour = Counter(local_hour(t.issued_ms) for t in called)
    assert per_hour.most_common(1)[0][0] in (9, 10, 11), per_hour
    assert sum(per_hour[h] for h in (9, 10, 11)) > 1.2 * sum(per_hour[h] for h in (13, 14, 15))
    morning = [((t.called_ms or 0) - t.issued_ms) / 1000 for t in called
               if local_hour(t.issued_ms) in (9, 10, 11)]
    assert mean(morning) > 5 * MIN


async def test_a_replayed_day_links_cases_sends_some_home_and_has_a_one_trip_rate(
        whole_day: Day) -> None:
    services = whole_day.report.services
    assert all(s.linked > 0 and s.pending > 0 for s in services), services
    trips = whole_day.report.one_trip
    assert trips is not None and isinstance(trips.rate, float)
    # Some needed a second trip (pending materials, 补正), most only one.
    assert 0.6 < trips.rate < 1.0
    assert trips.resolved_with_visit - trips.one_visit >= 5
    cases = list(whole_day.cases.cases.values())
    assert any(c.visit_count == 2 and c.status is CaseStatus.RESOLVED for c in cases)
    assert any(c.status is CaseStatus.MATERIALS_REQUIRED for c in cases)   # still to come back
    linked = [t for t in whole_day.tickets.tickets.values() if t.case_ids]
    assert len(linked) == sum(s.linked for s in services) == whole_day.result.linked
    assert whole_day.result.second_visits > 0
    # The clerks worked the queue to its end after closing, then closed their windows.
    assert not [t for t in whole_day.tickets.tickets.values()
                if t.state in (TicketState.WAITING, TicketState.CALLED, TicketState.SERVING)]


async def test_the_same_day_replays_the_same(config: HallConfig, whole_day: Day) -> None:
    again = await replay(config)
    assert [(s.service_code, s.tickets, s.served, s.linked, s.pending)
            for s in again.report.services] == [
        (s.service_code, s.tickets, s.served, s.linked, s.pending)
        for s in whole_day.report.services]


async def test_a_replay_until_now_leaves_the_queue_and_the_applicants_on_their_way(
        config: HallConfig) -> None:
    day = await replay(config, time(10, 15), drain=False)
    until = local_ms(DAY, time(10, 15))
    assert day.result.to_ms == until
    tickets = list(day.tickets.tickets.values())
    # Nothing happened after "now": the live hall carries on from there.
    assert max(t.issued_ms for t in tickets) < until
    assert max(max(t.called_ms or 0, t.completed_ms or 0) for t in tickets) < until
    assert any(t.state is TicketState.WAITING for t in tickets)       # the morning queue
    assert day.result.due and all(at >= until for at, _ in day.result.due)


async def test_the_replay_logs_a_summary_not_every_replayed_ticket(
        config: HallConfig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    day = await replay(config, time(9, 30), drain=False)
    assert day.result.tickets > 10
    replayed = [r for r in caplog.records if r.name in QUIETED_LOGGERS]
    assert not [r for r in replayed if r.levelno < logging.WARNING], replayed[:3]
    # Only while replaying: the live services log as before.
    logging.getLogger(QUIETED_LOGGERS[0]).info("a live ticket")
    assert caplog.records[-1].getMessage() == "a live ticket"


def test_the_span_to_replay_is_the_day_so_far_or_yesterday_before_opening(
        config: HallConfig) -> None:
    opens, closes = local_ms(DAY, time(8, 30)), local_ms(DAY, time(17, 30))
    during = replay_span(config, local_ms(DAY, time(11, 5)))
    assert (during.service_day, during.from_ms, during.until_ms, during.drain) == (
        "2026-11-30", opens, local_ms(DAY, time(11, 5)), False)
    after = replay_span(config, local_ms(DAY, time(20, 0)))
    assert (after.service_day, after.until_ms, after.drain) == ("2026-11-30", closes, True)
    before = replay_span(config, local_ms(DAY, time(7, 0)))
    assert (before.service_day, before.drain) == ("2026-11-29", True)
    assert before.from_ms == opens - 86_400_000
    # 01:00 is still the previous service day (it ends at the 03:00 rollover).
    small_hours = replay_span(config, local_ms(date(2026, 12, 1), time(1, 0)))
    assert (small_hours.service_day, small_hours.until_ms) == ("2026-11-30", closes)


def test_a_platform_started_late_has_applicants_on_their_way_already(config: HallConfig) -> None:
    plan = demo_plans(config).platform
    now = local_ms(DAY, time(10, 0))
    ahead = on_their_way(plan, now, random.Random(3))
    # ~16 filings an hour x 1.5 at 10 o'clock, each on the way for up to an hour: a dozen or so.
    assert 5 <= len(ahead) <= 40, ahead
    assert ahead == sorted(ahead)
    latest = now + round(plan.arrive_after_s[1] * 1000)
    assert all(now < at <= latest for at, _ in ahead)
    assert ahead[0][0] - now < 15 * 60_000      # the first one within minutes
    assert {service for _, service in ahead} <= set(plan.filings.rates_per_hour)


@pytest.fixture
async def integration_api() -> AsyncIterator[tuple[httpx.AsyncClient, CaseService, str]]:
    store = MemoryStore()
    case_store = MemoryCaseStore()
    cases = CaseService(case_store)
    keys = ApiKeyService(case_store)
    app = api_app(store, cases, WebhookService(case_store), keys)
    issued = await keys.create("platform", [Scope.CASES_WRITE, Scope.EVENTS_READ], "test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hall.test/api/v1") as client:
        yield client, cases, issued.plaintext


async def test_the_online_platform_files_and_follows_cases_through_the_integration_api(
        integration_api: tuple[httpx.AsyncClient, CaseService, str]) -> None:
    client, cases, api_key = integration_api
    platform = OnlinePlatform(HttpCaseDesk(client, api_key), random.Random(7))
    first = await platform.file_case("dorm")
    second = await platform.file_case("finance")
    case = await cases.get(first.case_id)
    assert case.status is CaseStatus.AWAITING_VISIT and case.applicant.person_id == first.person_id
    assert [m.name for m in case.materials] == ["宿舍调整申请表", "辅导员签字"]
    assert first.ticket_params()["identity"] == {"type": "person_id", "value": first.person_id}
    # The hall sends one applicant home for a document, resolves the other.
    await cases.complete_linked(first.case_id, "t-1", CompletionOutcome.PENDING_MATERIALS,
                                "缺少辅导员签字")
    await cases.complete_linked(second.case_id, "t-2", CompletionOutcome.RESOLVED)
    assert await platform.sent_back() == [first]
    assert await platform.sent_back() == []      # the feed is read once
    # A platform started later follows from the end of the feed.
    late = OnlinePlatform(HttpCaseDesk(client, api_key), random.Random(8))
    await late.skip_feed()
    assert late.state.cursor == platform.state.cursor
    # Without the key the hall refuses it.
    with pytest.raises(httpx.HTTPStatusError):
        await OnlinePlatform(HttpCaseDesk(client, "hk_000000000000_" + "x" * 30),
                             random.Random(9)).file_case("dorm")


def test_the_demo_leaves_the_highest_window_of_each_area_to_real_clerks() -> None:
    from hall.config_queue import QueueWindowConfig
    from hall.demo import simulated_clerk_windows

    config = HallConfig()
    assert simulated_clerk_windows(config) == ["w1", "w2", "w3"]   # w4 waits for a person
    config.queue.windows.append(QueueWindowConfig(window_id="d1", number=11,
                                                  services={"dorm": 1}, area="dorm-office"))
    config.queue.windows.append(QueueWindowConfig(window_id="d2", number=12,
                                                  services={"dorm": 1}, area="dorm-office"))
    assert simulated_clerk_windows(config) == ["w1", "w2", "w3", "d1"]
    config.demo.free_windows_per_area = 0
    assert simulated_clerk_windows(config) == ["w1", "w2", "w3", "w4", "d1", "d2"]
    config.demo.free_windows_per_area = 5   # more than an area has: all of it
    assert simulated_clerk_windows(config) == []
