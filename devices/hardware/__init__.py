"""Serial hardware drivers: ticket printer (ESC/POS), campus card reader, RS-485 lock boards
(Modbus RTU), LED queue display; one port per role (``ports``), serial implementations, fakes.

Frame formats and wiring: docs/hardware.md. Nothing here imports the edge agent: drivers report
what happens through an ``EventSink`` and their ``telemetry()``. Import the drivers from their
modules (``devices.hardware.printer`` ...): this package itself stays light, so that reading
``devices.hardware.settings`` into a config does not load pyserial, pymodbus or python-escpos.
"""

from devices.hardware.errors import BadFrame, DeviceNotAnswering, HardwareError, PortUnavailable
from devices.hardware.ports import (
    CardReader,
    EventSink,
    LedDisplay,
    LockBoard,
    LockInputs,
    PaperState,
    TicketPrint,
    TicketPrinter,
)
from devices.hardware.settings import HardwareSettings

__all__ = [
    "BadFrame",
    "CardReader",
    "DeviceNotAnswering",
    "EventSink",
    "HardwareError",
    "HardwareSettings",
    "LedDisplay",
    "LockBoard",
    "LockInputs",
    "PaperState",
    "PortUnavailable",
    "TicketPrint",
    "TicketPrinter",
]
