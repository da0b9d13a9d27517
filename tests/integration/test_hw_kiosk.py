"""A kiosk agent with its printer and card reader emulated on pseudo-terminals, against the
real broker, the real controller and PostgreSQL: a swipe takes a ticket for that card, the
emulated printer receives a valid ESC/POS ticket, paper-out and an unplugged printer raise
alarms that clear when the paper or the port is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from devices.hardware.settings import CardReaderSettings, HardwareSettings, PrinterSettings
from devices.kinds import DeviceKind
from edge.agent import EdgeAgent
from edge.drivers.kiosk import HardwareKiosk
from edge.settings import AgentSettings
from hall_controller.cases.postgres_store import PostgresCaseStore
from hall_controller.cases.postgres_ticket_links import PostgresTicketCases
from hall_controller.cases.rules import Applicant, CaseInput, CaseStatus
from hall_controller.cases.service import CaseService
from hall_controller.fleet.model import AlarmStatus
from hall_controller.queue.model import ServiceDef
from hall_controller.queue.tickets import QueueSettings
from simulators.emulated import EmulatedCardReader, EmulatedPrinter
from simulators.emulated.printer import Paper
from tests.support.controller import eventually, running_controller
from tests.support.hall_store import PostgresHallStore

pytestmark = pytest.mark.integration

QUEUE = QueueSettings(services=(ServiceDef("student-id", "学生证办理", "A"),))
CARD = "2023310456"


def hardware(tmp_path: Path) -> HardwareSettings:
    return HardwareSettings(
        printer=PrinterSettings(port=str(tmp_path / "printer"), poll_interval_s=0.2, print_attempts=3,
                                timeout_s=0.3, reopen_initial_s=0.1, reopen_max_s=0.5),
        card_reader=CardReaderSettings(port=str(tmp_path / "card"), debounce_s=1.0, timeout_s=0.3,
                                       reopen_initial_s=0.1, reopen_max_s=0.5))


async def events_of(store: PostgresHallStore, device_id: str, type_: str) -> list[dict[str, Any]]:
    return [e for e in await store.list_events(device_id, 500) if e["type"] == type_]


async def active_alarm(store: PostgresHallStore, device_id: str, type_: str) -> bool:
    alarms = await store.list_alarms(AlarmStatus.ACTIVE, device_id=device_id)
    return any(a.type == type_ for a in alarms)


async def test_a_card_swipe_takes_a_ticket_for_that_card_and_prints_it_in_esc_pos(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore, tmp_path: Path) -> None:
    cases = CaseService(PostgresCaseStore(hall_store.pool))
    await cases.upsert(CaseInput("C-1", "student-id", CaseStatus.AWAITING_VISIT,
                                 Applicant(person_id="p-1", campus_card=CARD, name="李华")))
    device_id = f"kiosk-{uuid.uuid4().hex[:6]}"
    kiosk = HardwareKiosk(hardware(tmp_path), card_service="student-id",
                          service_names={"student-id": "学生证办理"})
    agent = EdgeAgent(AgentSettings(device_id=device_id, kind=DeviceKind.KIOSK, broker_url=broker_url,
                                    topic_prefix=topic_prefix, durable=False, telemetry_interval_s=0.5),
                      kiosk)
    async with (EmulatedPrinter(tmp_path / "printer") as printer,
                EmulatedCardReader(tmp_path / "card") as reader,
                running_controller(broker_url, topic_prefix, hall_store, queue=QUEUE, cases=cases,
                                   ticket_cases=PostgresTicketCases(hall_store.pool)),
                agent):
        await agent.wait_connected(10)
        await eventually(_true(lambda: kiosk.printer is not None and kiosk.printer.online), 5,
                         "the printer answering")
        reader.swipe(CARD)
        reader.swipe(CARD)  # the card held on the reader: one visitor, one ticket
        await eventually(_true(lambda: len(printer.receipts) >= 1), 10, "a printed ticket")
        result = kiosk.last_result
        assert result is not None
        # Another visitor's card after: the kiosk serves swipes in order, so once their ticket
        # is printed, a second ticket for the held card would have been printed before it.
        reader.swipe("2023999999")

        def next_visitor_printed() -> bool:
            last = kiosk.last_result
            return (last is not None and last["ticket_id"] != result["ticket_id"]
                    and any(r.qr_codes == [last["ticket_id"]] for r in printer.receipts))
        await eventually(_true(next_visitor_printed), 10, "the next visitor's ticket")

        assert len(printer.receipts) == 2
        receipt = printer.receipts[0]
        assert printer.invalid == [], "the stream has bytes that are no ESC/POS command"
        assert receipt.cut and receipt.chinese_mode
        number = receipt.lines[0]
        assert number.text == result["ticket"] and number.width >= 2 and number.height >= 2
        assert "学生证办理" in receipt.text()  # decoded from GB18030
        assert receipt.qr_codes == [result["ticket_id"]]
        # The controller saw the card: it linked the card holder's open case to the ticket.
        assert [c["case_id"] for c in result["cases"]] == ["C-1"]
        ticket = await hall_store.get_ticket(result["ticket_id"])
        assert ticket is not None and ticket.case_ids == ["C-1"]


async def test_paper_out_and_an_unplugged_printer_raise_alarms_that_clear_by_themselves(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore, tmp_path: Path) -> None:
    device_id = f"kiosk-{uuid.uuid4().hex[:6]}"
    kiosk = HardwareKiosk(hardware(tmp_path), card_service="student-id")
    agent = EdgeAgent(AgentSettings(device_id=device_id, kind=DeviceKind.KIOSK, broker_url=broker_url,
                                    topic_prefix=topic_prefix, durable=False, telemetry_interval_s=0.5),
                      kiosk)
    async with (EmulatedPrinter(tmp_path / "printer") as printer,
                EmulatedCardReader(tmp_path / "card"),
                running_controller(broker_url, topic_prefix, hall_store, queue=QUEUE),
                agent):
        await agent.wait_connected(10)
        printer.paper = Paper.OUT
        await eventually(lambda: active_alarm(hall_store, device_id, "printer.paper_out"), 10,
                         "the paper-out alarm")
        await eventually(lambda: _latest_is(hall_store, device_id, "printer_paper", "out"), 10,
                         "telemetry printer_paper = out")
        # A ticket swiped while the paper is out is reported, not lost.
        printer_before = len(printer.receipts)
        await kiosk.take_ticket(agent, {"type": "campus_card", "value": CARD})
        await eventually(lambda: active_alarm(hall_store, device_id, "printer.print_failed"), 10,
                         "the print-failed alarm")
        failed = await events_of(hall_store, device_id, "printer.print_failed")
        assert failed[0]["data"]["ticket"] == kiosk.last_result["ticket"]  # type: ignore[index]
        assert len(printer.receipts) == printer_before
        printer.paper = Paper.OK
        await eventually(_negate(lambda: active_alarm(hall_store, device_id, "printer.paper_out")), 10,
                         "the paper-out alarm cleared")

        # USB unplugged: a hardware alarm; plugged back: the agent reopens it by itself.
        unplugged_at = time.monotonic()
        printer.port.unplug()
        await eventually(lambda: active_alarm(hall_store, device_id, "hardware.printer"), 10,
                         "the printer hardware alarm")
        await asyncio.sleep(0.5)
        printer.port.plug()
        await eventually(_negate(lambda: active_alarm(hall_store, device_id, "hardware.printer")), 10,
                         "the printer hardware alarm cleared")
        recovered = await events_of(hall_store, device_id, "hardware.recovered")
        assert recovered[0]["data"]["part"] == "printer"
        assert 0.5 <= recovered[0]["data"]["outage_s"] <= time.monotonic() - unplugged_at


def _true(check: Any) -> Any:
    async def wrapped() -> bool:
        return bool(check())
    return wrapped


def _negate(check: Any) -> Any:
    async def wrapped() -> bool:
        return not await check()
    return wrapped


async def _latest_is(store: PostgresHallStore, device_id: str, metric: str, value: object) -> bool:
    latest = (await store.latest_values([device_id])).get(device_id, [])
    return any(v.metric == metric and v.value == value for v in latest)
