"""The ticket service and the in-memory ticket store (unit: no broker, no database)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, time
from typing import Any

import pytest

from devices.contract import Request
from hall_controller.fleet.requests import RequestError, RequestRouter
from hall_controller.queue.memory_tickets import ConstraintViolation, MemoryTicketStore
from hall_controller.queue.model import Ticket, TicketState, WindowDef
from hall_controller.queue.ports import BusyWindow, NumberInUse, UnknownService, WaitInputs
from hall_controller.queue.tickets import OpeningHours, QueueSettings, TicketService
from tests.support.ticket_store_contract import SERVICES, TicketStoreContract, take


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


async def test_waiting_ahead_and_estimate_without_history(kiosk: Kiosk) -> None:
    results = [(await kiosk.take({"service": "student-id"}))["result"] for _ in range(3)]
    assert [r["waiting_ahead"] for r in results] == [0, 1, 2]
    # No service history and no [[queue.windows]]: 300 s a visitor, one idle window each.
    assert kiosk.service.settings.windows_assumed
    assert [r["estimated_wait_s"] for r in results] == [0, 300, 600]


async def test_the_ticket_is_stored_with_the_service_day_of_the_hall(kiosk: Kiosk) -> None:
    # 04:00 in Shanghai on the 29th, past the 03:00 rollover: the 29th's service day, although
    # it is still the 28th in UTC.
    kiosk.now = int(datetime(2026, 11, 28, 20, 0, tzinfo=UTC).timestamp() * 1000)
    result = (await kiosk.take({"service": "student-id"}))["result"]
    ticket = kiosk.store.tickets[result["ticket_id"]]
    assert ticket.service_day == "2026-11-29"
    # 02:00 local on the 30th is still the 29th's service day (before the rollover).
    kiosk.now = int(datetime(2026, 11, 29, 18, 0, tzinfo=UTC).timestamp() * 1000)
    late = (await kiosk.take({"service": "student-id"}))["result"]
    assert kiosk.store.tickets[late["ticket_id"]].service_day == "2026-11-29"
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


class KnownCards:
    def __init__(self, *cards: str) -> None:
        self.cards = set(cards)

    async def knows_identity(self, identity_type: str, value: str) -> bool:
        return identity_type == "campus_card" and value in self.cards


async def test_an_unknown_card_is_refused_when_the_kiosk_asks_and_no_ticket_is_issued(
        kiosk: Kiosk) -> None:
    kiosk.service.visitors.extend([KnownCards(), KnownCards("20231234")])
    card = {"type": "campus_card", "value": "99999999"}
    with pytest.raises(RequestError) as refused:
        await kiosk.service.take("kiosk-web-1", None, {"service": "student-id", "identity": card},
                                 "r-unknown-1", refuse_unknown_identity=True)
    assert refused.value.code == "unknown_identity"
    assert kiosk.store.tickets == {}
    known = await kiosk.service.take(
        "kiosk-web-1", None, {"service": "student-id",
                              "identity": {"type": "campus_card", "value": "20231234"}},
        "r-known-1", refuse_unknown_identity=True)
    assert known["ticket"] == "A001"
    # An MQTT kiosk's ticket.take is unchanged: the wire contract does not refuse.
    assert (await kiosk.take({"service": "student-id", "identity": card}))["ok"]


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


class FixedWaitInputs:
    """A WaitInputsSource with fixed answers; counts the reads."""

    def __init__(self, inputs: WaitInputs) -> None:
        self.inputs = inputs
        self.reads = 0

    async def wait_inputs(self, service_day: str, keep: int) -> WaitInputs:
        self.reads += 1
        return self.inputs


async def test_the_estimate_uses_recent_times_and_what_the_window_is_doing() -> None:
    store = MemoryTicketStore()
    # The one (assumed) student-id window has been busy for 50 s; recent window times
    # 100, 200, 300 s (mean 200). Its customer still needs the mean of (x - 50) over the
    # samples longer than 50 s: (50 + 150 + 250) / 3 = 150 s.
    source = FixedWaitInputs(WaitInputs(
        recent_service_s={"student-id": (100.0, 200.0, 300.0)},
        busy={"assumed-student-id": BusyWindow("student-id", SATURDAY_MORNING - 50_000)}))
    service = TicketService(store, QueueSettings(services=tuple(SERVICES)),
                            clock=lambda: SATURDAY_MORNING, wait_inputs=source)
    await service.start()
    router = RequestRouter()
    router.register("ticket.take", service.take)

    async def take() -> dict[str, Any]:
        request = Request(id=str(uuid.uuid4()), method="ticket.take",
                          params={"service": "student-id"})
        result: dict[str, Any] = (await router.handle("kiosk-01", None, request)).model_dump()
        return dict(result["result"])

    first, second = await take(), await take()
    assert first["estimated_wait_s"] == 150          # when the window frees up
    assert second["estimated_wait_s"] == 150 + 200   # ... plus one mean service time
    assert source.reads == 1, "a burst of takes shares one read of the inputs"


async def test_configured_windows_share_their_time_between_services() -> None:
    store = MemoryTicketStore()
    # Two idle windows: w1 serves only student-id, w2 serves student-id and finance equally.
    windows = (WindowDef("w1", 1, {"student-id": 1}),
               WindowDef("w2", 2, {"student-id": 1, "finance": 1}))
    source = FixedWaitInputs(WaitInputs(waiting={"finance": 3}))
    service = TicketService(store, QueueSettings(services=tuple(SERVICES), windows=windows),
                            clock=lambda: SATURDAY_MORNING, wait_inputs=source)
    await service.start()
    issued = [await service.take("kiosk-01", None, {"service": "student-id"})
              for _ in range(3)]
    # 2 idle windows take the first two at once; the third waits for the first window to
    # free up: rate = 1/300 (w1) + share/cycle of w2. With 3 student-id and 3 finance waiting,
    # w2 gives student-id half its calls of 300 s: 1/600. Free rate the same: 1/(1/300+1/600)
    # = 200 s.
    assert [r["estimated_wait_s"] for r in issued] == [0, 0, 200]


def test_windows_are_read_from_the_config_when_it_has_them() -> None:
    from types import SimpleNamespace

    from hall.config import QueueConfig
    from hall.settings import configured_windows, queue_settings

    # Without [[queue.windows]], one window per service is assumed (and said at start).
    assert configured_windows(SimpleNamespace()) == ()  # type: ignore[arg-type]
    assert configured_windows(SimpleNamespace(windows=[])) == ()  # type: ignore[arg-type]
    demo = QueueConfig()
    assert queue_settings(demo).windows_assumed is (not getattr(demo, "windows", None))
    shaped = SimpleNamespace(windows=[
        SimpleNamespace(window_id="w1", number=1, services=["student-id", "dorm"]),
        SimpleNamespace(id="w2", number=2, services={"finance": 2}, area="east")])
    assert configured_windows(shaped) == (  # type: ignore[arg-type]
        WindowDef("w1", 1, {"student-id": 1, "dorm": 1}),
        WindowDef("w2", 2, {"finance": 2}, "east"))
    unreadable = SimpleNamespace(windows=[SimpleNamespace(number=1)])
    assert configured_windows(unreadable) == ()  # type: ignore[arg-type]


async def test_an_identified_visitor_gets_their_open_cases_linked_once() -> None:
    from hall_controller.cases.memory_store import MemoryCaseStore
    from hall_controller.cases.rules import Applicant, CaseInput, CaseStatus, Material
    from hall_controller.cases.service import CaseService

    cases = CaseService(MemoryCaseStore())
    await cases.upsert(CaseInput("C-9", "student-id", CaseStatus.MATERIALS_REQUIRED,
                                 Applicant(person_id="p-9"),
                                 (Material("photo", "一寸照片", received=True),
                                  Material("form", "申请表"))))
    service = TicketService(MemoryTicketStore(), QueueSettings(services=tuple(SERVICES)),
                            clock=lambda: SATURDAY_MORNING, cases=cases)
    await service.start()
    router = RequestRouter()
    router.register("ticket.take", service.take)
    request = Request(id=str(uuid.uuid4()), method="ticket.take", params={
        "service": "student-id", "identity": {"type": "qr", "value": "C-9"}})
    first = (await router.handle("kiosk-01", None, request)).model_dump()
    again = (await router.handle("kiosk-01", None, request)).model_dump()  # redelivered
    assert first["result"]["cases"] == [{
        "case_id": "C-9", "service": "student-id", "status": "materials_required",
        "materials": [{"code": "photo", "name": "一寸照片", "received": True},
                      {"code": "form", "name": "申请表", "received": False}]}]
    assert again["result"] == first["result"]
    assert (await cases.get("C-9")).linked_tickets == [first["result"]["ticket_id"]]
    # A QR code of another service's case links nothing to this ticket.
    other = await service.take("kiosk-01", None, {
        "service": "finance", "identity": {"type": "qr", "value": "C-9"}})
    assert other["cases"] == []


async def test_the_fake_refuses_the_rows_the_schema_refuses() -> None:
    """MemoryTicketStore.write_ticket holds every row to the constraints of tickets (0004,
    0010), as PostgreSQL does, and changes nothing when it refuses one."""
    store = MemoryTicketStore()
    await store.sync_services(SERVICES)
    a1 = (await store.issue_ticket(take(request_id="r-1"))).ticket

    def twin(**changes: Any) -> Ticket:
        return dataclasses.replace(a1, **{"ticket_id": str(uuid.uuid4()), "origin_device": None,
                                          "request_id": None, **changes})

    refusals: list[tuple[Ticket, str | None, type[Exception], str]] = [
        (a1, "student-id", ConstraintViolation, "tickets_pkey"),
        (twin(number="Z001"), "student-id", ConstraintViolation, "tickets_numbered_once"),
        (twin(seq=7), "transcript", NumberInUse, "live"),  # A001 printed twice
        (twin(seq=8, number="A008", origin_device="kiosk-01", request_id="r-1"), "student-id",
         ConstraintViolation, "tickets_origin_device_request_id_key"),
        (twin(seq=9, number="A009", service_code="nope"), "student-id", UnknownService,
         "no service"),
        (twin(seq=9, number="A009"), "nope", UnknownService, "no service"),
    ]
    for row, numbered_by, error, message in refusals:
        with pytest.raises(error, match=message):
            store.write_ticket(row, numbered_by)
    assert list(store.tickets) == [a1.ticket_id]
    # A closed ticket's number may show again (only live tickets are unique by number).
    store.write_ticket(dataclasses.replace(a1, state=TicketState.CANCELLED))
    store.write_ticket(twin(seq=7), "transcript")
    assert len(store.tickets) == 2
