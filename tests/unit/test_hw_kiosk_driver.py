"""The hardware kiosk driver over an in-memory printer and card reader: a swipe is a
``ticket.take`` for that card, the issued ticket is printed, and bad replies never stop it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from devices.contract import ErrorBody, Response
from devices.hardware.fakes import FakeCardReader, FakeTicketPrinter
from devices.hardware.settings import HardwareSettings
from edge.drivers.kiosk import HardwareKiosk
from edge.errors import RequestTimeout
from tests.support.waiting import eventually


class Controller:
    """An agent whose requests are answered from a script, one reply per request."""

    device_id = "kiosk-test"

    def __init__(self, replies: list[Response | Exception]) -> None:
        self.replies = replies
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.events: list[str] = []

    async def emit_event(self, type: str, data: Mapping[str, Any] | None = None) -> str:
        self.events.append(type)
        return type

    async def request(self, method: str, params: Mapping[str, Any] | None = None,
                      timeout_s: float = 10.0) -> Response:
        self.requests.append((method, dict(params or {})))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def issued(ticket: str, **extra: Any) -> Response:
    result = {"ticket": ticket, "ticket_id": f"id-{ticket}", "service": "student-id", "waiting_ahead": 2,
              "estimated_wait_s": 300, "cases": [], **extra}
    return Response(id="r", ok=True, result=result)


async def serve(kiosk: HardwareKiosk, agent: Controller, done: Callable[[], bool]) -> None:
    """Run the kiosk until ``done`` holds."""
    task = asyncio.create_task(kiosk.run(agent))
    try:
        await eventually(done, what="the kiosk done with the swipes")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_swipes_take_tickets_for_the_card_and_bad_replies_do_not_stop_the_kiosk() -> None:
    printer, reader = FakeTicketPrinter(), FakeCardReader()
    kiosk = HardwareKiosk(HardwareSettings(), card_service="student-id",
                          service_names={"student-id": "学生证办理"}, printer=printer, card_reader=reader)
    agent = Controller([
        RequestTimeout("no answer"),
        Response(id="r", ok=False, error=ErrorBody(code="hall_closed", message="closed")),
        Response(id="r", ok=True, result={"ticket": 12}),  # a controller bug: no usable ticket
        issued("A013"),
    ])
    for card in ("1001", "1002", "1003", "1004"):
        reader.swipe(card)
    # The swipes are served in order: the last one's ticket printed, all four are done.
    await serve(kiosk, agent, lambda: len(printer.printed) == 1)

    assert [p["identity"] for _, p in agent.requests] == [
        {"type": "campus_card", "value": card} for card in ("1001", "1002", "1003", "1004")]
    assert {m for m, _ in agent.requests} == {"ticket.take"}
    assert {p["service"] for _, p in agent.requests} == {"student-id"}
    printed = [(t.ticket, t.service_name, t.waiting_ahead) for t in printer.printed]
    assert printed == [("A013", "学生证办理", 2)]
    telemetry = kiosk.read_telemetry()
    assert telemetry["swipes"] == 4 and telemetry["swipes_refused"] == 2
    assert telemetry["printer_paper"] == "ok" and telemetry["printer_online"] is True
