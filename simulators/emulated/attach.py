"""Emulated hardware for one device host: the emulators of a device kind on ptys in a folder,
and the ``HardwareSettings`` that point the serial drivers at them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from devices.hardware.settings import (
    CardReaderSettings,
    HardwareSettings,
    LedDisplaySettings,
    LockBoardSettings,
    PrinterSettings,
)
from devices.kinds import DeviceKind
from simulators.emulated.card_reader import EmulatedCardReader
from simulators.emulated.led_controller import EmulatedLedController
from simulators.emulated.lock_board import EmulatedLockBus
from simulators.emulated.printer import EmulatedPrinter

LOCK_ADDRESS = 1
LED_ADDRESS = 1


@dataclass
class EmulatedHardware:
    """The emulators running for one host (those of its kind; the others are None)."""

    settings: HardwareSettings
    printer: EmulatedPrinter | None = None
    card_reader: EmulatedCardReader | None = None
    lock_bus: EmulatedLockBus | None = None
    led: EmulatedLedController | None = None
    ports: list[Path] = field(default_factory=list)


@contextlib.asynccontextmanager
async def emulated_hardware(kind: DeviceKind, directory: Path) -> AsyncIterator[EmulatedHardware]:
    """Start the emulators a ``kind`` has (kiosk: printer + card reader; door lock: an RS-485 bus
    with one board + a card reader; queue display: an LED controller) with ports in
    ``directory``; a face gate has no serial hardware here."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        hw = EmulatedHardware(HardwareSettings())
        if kind is DeviceKind.KIOSK:
            hw.printer = await stack.enter_async_context(EmulatedPrinter(directory / "printer"))
            hw.card_reader = await stack.enter_async_context(EmulatedCardReader(directory / "card-reader"))
            hw.settings = HardwareSettings(printer=PrinterSettings(port=str(hw.printer.port.path)),
                                           card_reader=CardReaderSettings(port=str(hw.card_reader.port.path)))
        elif kind is DeviceKind.DOOR_LOCK:
            hw.lock_bus = await stack.enter_async_context(
                EmulatedLockBus(directory / "rs485", addresses=(LOCK_ADDRESS,)))
            hw.card_reader = await stack.enter_async_context(EmulatedCardReader(directory / "card-reader"))
            hw.settings = HardwareSettings(
                lock_board=LockBoardSettings(port=str(hw.lock_bus.port.path), address=LOCK_ADDRESS),
                card_reader=CardReaderSettings(port=str(hw.card_reader.port.path)))
        elif kind is DeviceKind.QUEUE_DISPLAY:
            hw.led = await stack.enter_async_context(EmulatedLedController(directory / "led", LED_ADDRESS))
            hw.settings = HardwareSettings(led_display=LedDisplaySettings(port=str(hw.led.port.path),
                                                                          address=LED_ADDRESS))
        hw.ports = [Path(s.port) for s in (hw.settings.printer, hw.settings.card_reader,
                                           hw.settings.lock_board, hw.settings.led_display) if s is not None]
        yield hw
