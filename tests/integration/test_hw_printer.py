"""The ESC/POS printer driver against an emulated printer on a pseudo-terminal: paper states,
a garbled status answer, a printer that falls silent mid-queue, and a ticket never lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devices.hardware.ports import TicketPrint
from devices.hardware.printer import SerialTicketPrinter
from devices.hardware.settings import PrinterSettings
from simulators.emulated.printer import EmulatedPrinter, Paper
from tests.integration.test_hw_lock_board import Recorder
from tests.support.waiting import eventually


def ticket(number: str) -> TicketPrint:
    return TicketPrint(number, f"id-{number}", "学生证办理", int(time.time() * 1000), 120, 1)


@pytest.fixture
async def printer(tmp_path: Path) -> AsyncIterator[tuple[EmulatedPrinter, SerialTicketPrinter, Recorder]]:
    path = tmp_path / "printer"
    recorder = Recorder()
    settings = PrinterSettings(port=str(path), poll_interval_s=0.1, timeout_s=0.2, print_attempts=4,
                               retry_within_s=5, reopen_initial_s=0.05, reopen_max_s=0.2)
    async with EmulatedPrinter(path) as emulated:
        driver = SerialTicketPrinter(settings, recorder)
        task = asyncio.create_task(driver.run())
        try:
            yield emulated, driver, recorder
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def until(check: Any, timeout_s: float = 5.0) -> None:
    await eventually(check, timeout_s, "the printer", interval_s=0.02)


async def polls_later(emulated: EmulatedPrinter, polls: int = 2) -> None:
    """Until the driver has asked for the paper state ``polls`` more times: it asks again only
    once it has handled the previous answer, so what those answers caused has happened."""
    asked = emulated.status_queries
    await until(lambda: emulated.status_queries >= asked + polls + 1)


async def test_paper_near_end_out_and_back_are_reported_once_each(printer: Any) -> None:
    emulated, driver, recorder = printer
    await until(lambda: driver.online)
    emulated.paper = Paper.NEAR_END
    await until(lambda: driver.paper.value == "near_end")
    emulated.paper = Paper.OUT
    await until(lambda: driver.paper.value == "out")
    emulated.paper = Paper.OK
    await until(lambda: driver.paper.value == "ok")
    await polls_later(emulated)  # no second report of any of them
    assert recorder.types() == ["printer.paper_near_end", "printer.paper_out", "printer.paper_ok"]
    assert driver.telemetry()["printer_paper"] == "ok"


async def test_a_garbled_status_answer_is_counted_not_taken_for_a_paper_state(printer: Any) -> None:
    emulated, driver, recorder = printer
    await until(lambda: driver.online)
    emulated.garbled_answers = 2
    await until(lambda: driver.telemetry()["printer_bad_frames"] == 2)
    await polls_later(emulated)
    assert driver.paper.value == "ok" and recorder.types() == []


async def test_a_ticket_queued_while_the_printer_is_silent_is_printed_once_it_answers(printer: Any) -> None:
    emulated, driver, recorder = printer
    await until(lambda: driver.online)
    emulated.port.silent = True
    await driver.print_ticket(ticket("A001"))
    await until(lambda: "hardware.fault" in recorder.types())
    assert recorder.events[0][1]["reason"] == "printer does not answer status queries"
    emulated.port.silent = False
    await until(lambda: len(emulated.receipts) == 1)
    assert emulated.receipts[0].lines[0].text == "A001"
    assert "hardware.recovered" in recorder.types() and "printer.print_failed" not in recorder.types()


async def test_a_ticket_that_cannot_be_printed_is_reported_with_its_number(printer: Any) -> None:
    emulated, driver, recorder = printer
    await until(lambda: driver.online)
    emulated.paper = Paper.OUT
    await driver.print_ticket(ticket("A002"))
    await until(lambda: "printer.print_failed" in recorder.types())
    failed = dict(recorder.events)["printer.print_failed"]
    assert failed == {"ticket": "A002", "reason": "paper out"}
    assert emulated.receipts == [] and driver.telemetry()["print_failures"] == 1
    # The next ticket prints once paper is back: the printer was not left stuck.
    emulated.paper = Paper.OK
    await driver.print_ticket(ticket("A003"))
    await until(lambda: len(emulated.receipts) == 1)
    assert emulated.receipts[0].lines[0].text == "A003"
