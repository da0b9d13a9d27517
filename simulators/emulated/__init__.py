"""Emulated serial hardware behind pseudo-terminals, speaking each device's real protocol.

Each emulator owns an ``EmulatedPort`` (a pty pair plus a stable symlink the driver opens, like
udev's ``/dev/serial/by-id`` names) that it can ``unplug`` and ``replug``. Drivers and agents
are tested end to end through a real tty this way.
"""

from simulators.emulated.card_reader import EmulatedCardReader
from simulators.emulated.led_controller import EmulatedLedController
from simulators.emulated.lock_board import EmulatedLockBoard, EmulatedLockBus
from simulators.emulated.printer import EmulatedPrinter, Receipt
from simulators.emulated.pty_port import EmulatedPort

__all__ = [
    "EmulatedCardReader",
    "EmulatedLedController",
    "EmulatedLockBoard",
    "EmulatedLockBus",
    "EmulatedPort",
    "EmulatedPrinter",
    "Receipt",
]
