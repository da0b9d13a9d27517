"""The demo's day so far, replayed on the real database the way ``hall demo`` does it
(``hall.demo.replay_day``: the real services over the PostgreSQL stores, with the replay's
clock), read back through the statistics endpoint; and the simulated online platform filing
a case through the integration API with the API key the demo gives it."""

from __future__ import annotations

import random
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from hall.assembly import PostgresAdapters, postgres_adapters
from hall.config import HallConfig, load_config
from hall.demo import demo_plans, platform_api_key, replay_day
from hall.settings import queue_settings
from hall_controller.cases.integration_keys import ApiKeyService
from hall_controller.cases.rules import CaseStatus
from hall_controller.cases.service import CaseService
from hall_controller.cases.webhooks import WebhookService
from hall_controller.fleet.model import Role
from hall_controller.queue.stats import StatsService
from hall_controller.users.service import ensure_user
from simulators.online_platform import HttpCaseDesk, OnlinePlatform
from tests.support.api_app import api_app
from tests.unit.api_support import FAST_HASHER

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 30)
NOW = int(datetime.combine(DAY, time(12, 30), tzinfo=ZONE).timestamp() * 1000)


@pytest.fixture
def config(tmp_path: Path) -> HallConfig:
    shipped = load_config(ROOT / "config.toml")
    return shipped.model_copy(update={"data_dir": str(tmp_path / "data")})


async def test_the_morning_replayed_on_postgres_shows_minutes_cases_and_a_one_trip_rate(
        config: HallConfig, database_url: str) -> None:
    # The stores as the composition root opens them for `hall demo`.
    async with postgres_adapters(config, database_url) as stores:
        await _replayed_morning(config, stores)


async def _replayed_morning(config: HallConfig, stores: PostgresAdapters) -> None:
    replayed = await replay_day(config, stores, demo_plans(config), NOW)
    assert replayed is not None
    result = replayed.result
    assert (result.service_day, result.to_ms) == ("2026-11-30", NOW)
    assert result.tickets >= 80 and result.linked >= 10 and result.pending >= 3

    case_store = stores.cases
    cases = CaseService(case_store)
    app = api_app(
        stores.fleet, cases, WebhookService(case_store), ApiKeyService(case_store),
        StatsService(stores.stats, config.queue.timezone,
                     one_trip=cases, services=queue_settings(config.queue).services),
        users=stores.users)
    await ensure_user(stores.users, "ada", "admin-pass-1", Role.ADMIN, hasher=FAST_HASHER)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hall/api/v1") as client:
        token = (await client.post("/auth/token", data={"username": "ada",
                                                        "password": "admin-pass-1"})
                 ).json()["access_token"]
        response = await client.get("/stats/services", params={"day": DAY.isoformat()},
                                    headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        body = response.json()

        # What the stats page shows: minutes of waiting, names, linked cases, a one-trip rate.
        services = {s["service_code"]: s for s in body["services"]}
        assert services["dorm"]["name"] == "宿舍事务"
        assert services["dorm"]["name_en"] == "Dormitory affairs"
        assert sum(s["tickets"] for s in services.values()) == result.tickets
        waits = [s["mean_wait_s"] for s in services.values()]
        assert all(w is not None and w >= 60 for w in waits), waits
        assert max(s["p90_wait_s"] for s in services.values()) >= 10 * 60
        # 4-minute services (exponential, half a day of them): minutes, not seconds.
        assert all(2 * 60 <= s["mean_service_s"] <= 7 * 60 for s in services.values()), [
            s["mean_service_s"] for s in services.values()]
        assert sum(s["linked"] for s in services.values()) == result.linked
        assert sum(s["pending"] for s in services.values()) == result.pending
        trips = body["one_trip"]
        assert isinstance(trips["rate"], float) and 0 < trips["rate"] <= 1
        assert trips["resolved_with_visit"] >= 20

        # The tickets carry their cases, and a case its visits (the window terminal's view).
        linked = await stores.stats.service_day_stats(DAY.isoformat())
        assert sum(s.linked for s in linked) == result.linked
        sent_back = [c for c in await cases.list_cases(status=CaseStatus.MATERIALS_REQUIRED,
                                                       limit=1000)]
        assert sent_back and all(c.visit_count >= 1 for c in sent_back)

        # The simulated platform goes on live through the integration API, with its key.
        api_key = await platform_api_key(config, stores)
        assert await platform_api_key(config, stores) == api_key   # kept, not a new one
        live = OnlinePlatform(HttpCaseDesk(client, api_key), random.Random(1),
                              state=replayed.platform)
        applicant = await live.file_case("finance")
        filed = await cases.get(applicant.case_id)
        assert filed.status is CaseStatus.AWAITING_VISIT
        assert await live.sent_back() == []   # nothing new in the feed since the replay

    # A restart does not replay the day again.
    assert await replay_day(config, stores, demo_plans(config), NOW + 60_000) is None
