"""A kiosk agent's driver over serial hardware: a campus card swipe takes a ticket, the ticket
printer prints it.

A swipe on the card reader becomes a ``ticket.take`` request for the kiosk's card service with
``"identity": {"type": "campus_card", "value": <card number>}``; the ticket the controller
issues is queued on the printer. Printer paper and faults become the agreed events
(``printer.paper_*``, ``printer.print_failed``, ``hardware.fault`` / ``hardware.recovered``) and
telemetry (``printer_paper``, ``printer_online``, ``<part>_online``, ``<part>_bad_frames``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from devices.cancellation import raise_if_cancelled
from devices.contract import now_ms
from devices.hardware.card_reader import SerialCardReader
from devices.hardware.ports import CardReader, TicketPrint, TicketPrinter
from devices.hardware.printer import SerialTicketPrinter
from devices.hardware.relay import EventRelay, drivers_telemetry
from devices.hardware.settings import HardwareSettings
from devices.kinds import DeviceKind
from edge.driver import DeviceHandle, TelemetryScalar
from edge.errors import EdgeError, UnknownMethod

logger = logging.getLogger(__name__)


class HardwareKiosk:
    """A ``DeviceDriver`` for a kiosk with a serial ticket printer and card reader."""

    kind: ClassVar[DeviceKind] = DeviceKind.KIOSK

    def __init__(self, hardware: HardwareSettings, *, card_service: str,
                 service_names: Mapping[str, str] | None = None, request_timeout_s: float = 10.0,
                 printer: TicketPrinter | None = None, card_reader: CardReader | None = None) -> None:
        """``card_service`` is the service a card swipe takes a ticket for; ``printer`` and
        ``card_reader`` replace the serial drivers built from ``hardware`` (fakes in tests)."""
        self.events = EventRelay()
        self.card_service = card_service
        self.service_names = dict(service_names or {})
        self.request_timeout_s = request_timeout_s
        if printer is None and hardware.printer is not None:
            printer = SerialTicketPrinter(hardware.printer, self.events)
        if card_reader is None and hardware.card_reader is not None:
            card_reader = SerialCardReader(hardware.card_reader, self.events)
        self.printer = printer
        self.card_reader = card_reader
        self.swipes = 0
        self.tickets_taken = 0
        self.swipes_refused = 0
        self.last_result: dict[str, Any] | None = None

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        """Printer and reader state plus the kiosk's counters."""
        values: dict[str, Any] = {"swipes": self.swipes, "tickets_taken": self.tickets_taken,
                                  "swipes_refused": self.swipes_refused}
        if self.printer is not None:
            values |= {"printer_paper": self.printer.paper.value, "printer_online": self.printer.online}
        return drivers_telemetry(values, self.printer, self.card_reader)

    async def run(self, device: DeviceHandle) -> None:
        """Run the printer and reader drivers and turn swipes into tickets."""
        await self.events.attach(device)
        try:
            async with asyncio.TaskGroup() as tasks:
                if self.printer is not None:
                    tasks.create_task(self.printer.run(), name=f"{device.device_id}:printer")
                if self.card_reader is not None:
                    tasks.create_task(self.card_reader.run(), name=f"{device.device_id}:card-reader")
                    tasks.create_task(self._serve_swipes(device, self.card_reader),
                                      name=f"{device.device_id}:swipes")
        finally:
            self.events.detach()

    async def handle_command(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``device.ping``; the kiosk has no other commands yet."""
        if method == "device.ping":
            return {"pong": now_ms()}
        raise UnknownMethod(method)

    async def _serve_swipes(self, device: DeviceHandle, reader: CardReader) -> None:
        while True:
            raise_if_cancelled()  # a stop swallowed by a timeout (devices/cancellation.py)
            card = await reader.next_card()
            self.swipes += 1
            try:
                await self.take_ticket(device, {"type": "campus_card", "value": card})
            except Exception:
                # One bad reply must not stop the kiosk serving the next visitor.
                logger.exception("%s: ticket for a card swipe failed", device.device_id)

    async def take_ticket(self, device: DeviceHandle, identity: Mapping[str, str]) -> None:
        """Request a ticket for ``identity`` and print it."""
        params = {"service": self.card_service, "identity": dict(identity)}
        try:
            response = await device.request("ticket.take", params, self.request_timeout_s)
        except EdgeError as exc:
            self.swipes_refused += 1
            logger.warning("%s: ticket.take failed: %s", device.device_id, exc)
            return
        if not response.ok or response.result is None:
            self.swipes_refused += 1
            code = response.error.code if response.error is not None else "unknown"
            logger.info("%s: ticket.take refused: %s", device.device_id, code)
            return
        result = dict(response.result)
        self.last_result = result
        ticket = _ticket_print(result, self.service_names)
        self.tickets_taken += 1
        if self.printer is not None:
            await self.printer.print_ticket(ticket)


def _ticket_print(result: Mapping[str, Any], service_names: Mapping[str, str]) -> TicketPrint:
    """What to print from a ``ticket.take`` result (bad fields raise ValueError)."""
    ticket, ticket_id, service = result.get("ticket"), result.get("ticket_id"), result.get("service")
    wait, ahead = result.get("estimated_wait_s", 0), result.get("waiting_ahead", 0)
    if not (isinstance(ticket, str) and isinstance(ticket_id, str) and isinstance(service, str)
            and isinstance(wait, int) and isinstance(ahead, int)):
        raise ValueError(f"unexpected ticket.take result: {result!r}")
    return TicketPrint(ticket=ticket, ticket_id=ticket_id, service_name=service_names.get(service, service),
                       issued_at_ms=now_ms(), estimated_wait_s=wait, waiting_ahead=ahead)
