"""The ticket service and the in-memory ticket store (unit: no broker, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Any

import pytest

from devices.contract import Request
from hall_controller.adapters.memory_tickets import MemoryTicketStore
from hall_controller.services.requests import RequestRouter
from hall_controller.services.tickets import OpeningHours, QueueSettings, TicketService
from tests.support.ticket_store_contract import SERVICES, TicketStoreContract


class TestMemoryTicketStore(TicketStoreContract):
    @pytest.fixture
    def ticket_store(self) -> MemoryTicketStore:
        return MemoryTicketStore()


# 2026-11-28 01:30 UTC is 09:30 on a Saturday in Shanghai; 2026-11-30 is a Monday.
SATURDAY_MORNING = int(datetime(2026, 11, 28, 1, 30, tzinfo=UTC).timestamp() * 1000)
MONDAY_MORNING = int(datetime(2026, 11, 30, 1, 30, tzinfo=UTC).timestamp() * 1000)
MONDAY_NIGHT = int(datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp() * 1000)  # 20:00 local


class Kiosk:
    """Sends ticket.take through the router, as the ingest pipeline does."""

    def __init__(self, store: MemoryTicketStore, clock_ms: int = SATURDAY_MORNING,
                 **settings: Any) -> None:
        self.now = clock_ms
        self.store = store
        self.service = TicketService(store, QueueSettings(services=tuple(SERVICES), **settings),
                                     clock=lambda: self.now)
        self.router = RequestRouter()
        self.router.register("ticket.take", self.service.take)

    async def take(self, params: dict[str, Any], request_id: str | None = None,
                   device: str = "kiosk-01") -> dict[str, Any]:
        request = Request(id=request_id or str(uuid.uuid4()), method="ticket.take", params=params)
        response = await self.router.handle(device, None, request)
        return response.model_dump(exclude_none=True)


@pytest.fixture
async def kiosk() -> Kiosk:
    k = Kiosk(MemoryTicketStore())
    await k.service.start()
    return k


async def test_tickets_are_numbered_a001_a002(kiosk: Kiosk) -> None:
    first = await kiosk.take({"service": "student-id"})
    second = await kiosk.take({"service": "student-id"})
    assert first["ok"] and second["ok"]
    assert first["result"]["ticket"] == "A001" and second["result"]["ticket"] == "A002"
    assert set(first["result"]) == {"ticket", "ticket_id", "service", "waiting_ahead",
                                    "estimated_wait_s", "cases"}
    assert first["result"]["service"] == "student-id" and first["result"]["cases"] == []


async def test_waiting_ahead_and_interim_estimate(kiosk: Kiosk) -> None:
    results = [(await kiosk.take({"service": "student-id"}))["result"] for _ in range(3)]
    assert [r["waiting_ahead"] for r in results] == [0, 1, 2]
    # No service history yet: 300 s a visitor, one window.
    assert [r["estimated_wait_s"] for r in results] == [0, 300, 600]


async def test_the_ticket_is_stored_with_the_service_day_of_the_hall(kiosk: Kiosk) -> None:
    kiosk.now = int(datetime(2026, 11, 28, 17, 0, tzinfo=UTC).timestamp() * 1000)  # 01:00 local
    result = (await kiosk.take({"service": "student-id"}))["result"]
    ticket = kiosk.store.tickets[result["ticket_id"]]
    assert ticket.service_day == "2026-11-29"
    assert ticket.origin_device == "kiosk-01"


async def test_daily_cap_reached(kiosk: Kiosk) -> None:
    for _ in range(2):
        assert (await kiosk.take({"service": "finance"}))["ok"]
    refused = await kiosk.take({"service": "finance"})
    assert refused["ok"] is False and refused["error"]["code"] == "daily_cap_reached"


async def test_unknown_service(kiosk: Kiosk) -> None:
    refused = await kiosk.take({"service": "parking"})
    assert refused["error"]["code"] == "unknown_service"
    assert "student-id" in refused["error"]["message"]  # says what is known


async def test_a_redelivered_request_gets_the_same_ticket(kiosk: Kiosk) -> None:
    first = await kiosk.take({"service": "student-id"}, request_id="r-1")
    again = await kiosk.take({"service": "student-id"}, request_id="r-1")
    assert again["result"]["ticket_id"] == first["result"]["ticket_id"]
    assert again["result"]["ticket"] == "A001"
    assert len(kiosk.store.tickets) == 1
    other_device = await kiosk.take({"service": "student-id"}, request_id="r-1", device="kiosk-02")
    assert other_device["result"]["ticket"] == "A002"


@pytest.mark.parametrize("params", [
    {},
    {"service": ""},
    {"service": 7},
    {"service": "student-id", "priority": "yes"},
    {"service": "student-id", "identity": "12345"},
    {"service": "student-id", "identity": {"type": "passport", "value": "x"}},
    {"service": "student-id", "identity": {"type": "campus_card", "value": ""}},
    {"service": "student-id", "identity": {"type": "campus_card"}},
])
async def test_invalid_params(kiosk: Kiosk, params: dict[str, Any]) -> None:
    refused = await kiosk.take(params)
    assert refused["error"]["code"] == "invalid_params"
    assert not kiosk.store.tickets


async def test_identity_is_kept_and_a_person_id_names_the_person(kiosk: Kiosk) -> None:
    card = await kiosk.take({"service": "student-id",
                             "identity": {"type": "campus_card", "value": "20231234"}})
    person = await kiosk.take({"service": "student-id", "priority": True,
                               "identity": {"type": "person_id", "value": "p-42"}})
    card_id, person_id = card["result"]["ticket_id"], person["result"]["ticket_id"]
    assert kiosk.store.identities[card_id] == ("campus_card", "20231234")
    assert kiosk.store.tickets[card_id].person_id is None
    assert kiosk.store.tickets[person_id].person_id == "p-42"
    assert kiosk.store.tickets[person_id].priority


async def test_hall_closed_outside_opening_hours() -> None:
    hours = OpeningHours(time(8, 30), time(17, 30), frozenset({1, 2, 3, 4, 5}))
    kiosk = Kiosk(MemoryTicketStore(), MONDAY_MORNING, opening_hours=hours)
    await kiosk.service.start()
    assert (await kiosk.take({"service": "student-id"}))["ok"]
    for closed in (MONDAY_NIGHT, SATURDAY_MORNING):
        kiosk.now = closed
        refused = await kiosk.take({"service": "student-id"})
        assert refused["error"]["code"] == "hall_closed"
        assert "08:30-17:30" in refused["error"]["message"]


async def test_store_outage_is_a_clear_error(kiosk: Kiosk) -> None:
    kiosk.store.available = False
    refused = await kiosk.take({"service": "student-id"})
    assert refused["error"]["code"] == "unavailable"
