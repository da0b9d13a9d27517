"""Serial hardware timings: the project's drivers against its emulators on pseudo-terminals.

The emulators of ``simulators/emulated/`` answer byte for byte on ptys, as the
``tests/integration/test_hw_*.py`` tests use them; every driver runs with its shipped default
settings (``devices/hardware/settings.py``). A pty ignores the baud rate, so these are software
costs: on a real line add the wire time. Rows (each --repeat times, after one warm-up):

  1. swipe → ticket cut   a card swiped on the emulated reader of a kiosk agent
                          (``edge/drivers/kiosk.py``) → ``ticket.take`` over a real Mosquitto →
                          the whole hall controller as ``hall.assembly.assemble`` builds it, on
                          a fresh PostgreSQL database → the ticket cut by the emulated printer;
  2. queued → cut         the printer driver alone: ``print_ticket`` until the cut (a paper
                          status query, then the job);
  3. lock board           ``read_inputs`` (2 Modbus exchanges) and ``pulse`` (1 exchange);
  4. LED call             ``show_call`` until the panel's ack is read;
  5. unplugged → fault    the printer's port removed at a random point of its 1 s status poll
                          until the driver reports ``hardware.fault``;
  6. back → recovered     the port back 2 s after it was removed until ``hardware.recovered``.

Everything runs in one process and event loop, as in the tests. Broker: a private Mosquitto
on a free port (benchmarks/ingest.py's) unless --broker-url is given. Database: a fresh
database on --database-url, dropped afterwards. docs/hardware.md quotes these figures.

    .venv/bin/python benchmarks/hardware.py [--repeat 30] [--broker-url mqtt://127.0.0.1:1883]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest import fresh_database, private_mosquitto  # this folder: a sibling script

from devices.hardware.led_display import SerialLedDisplay
from devices.hardware.lock_board import ModbusBus, ModbusLockBoard
from devices.hardware.ports import TicketPrint
from devices.hardware.printer import SerialTicketPrinter
from devices.hardware.settings import (
    CardReaderSettings,
    HardwareSettings,
    LedDisplaySettings,
    LockBoardSettings,
    PrinterSettings,
)
from devices.kinds import DeviceKind
from edge.agent import EdgeAgent
from edge.drivers.kiosk import HardwareKiosk
from edge.settings import AgentSettings
from hall.assembly import assemble
from hall.config import HallConfig
from simulators.emulated import EmulatedCardReader, EmulatedLedController, EmulatedLockBus
from simulators.emulated.printer import EmulatedPrinter

OUTAGE_S = 2.0


class TimedPrinter(EmulatedPrinter):
    """The emulated printer, noting when each ticket is cut (as its bytes are parsed)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.cuts: asyncio.Queue[float] = asyncio.Queue()

    def feed(self, data: bytes) -> None:
        before = len(self.receipts)
        super().feed(data)
        if len(self.receipts) > before:
            self.cuts.put_nowait(time.perf_counter())

    async def next_cut(self) -> float:
        async with asyncio.timeout(10):
            return await self.cuts.get()


class Events:
    """A driver's event sink that notes when each event arrived."""

    def __init__(self) -> None:
        self.arrived: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

    async def __call__(self, type_: str, data: dict[str, Any]) -> None:
        self.arrived.put_nowait((time.perf_counter(), type_))

    async def next(self, type_: str) -> float:
        async with asyncio.timeout(10):
            while True:
                at, arrived = await self.arrived.get()
                if arrived == type_:
                    return at


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait (unmeasured) for ``check``, polling every millisecond."""
    deadline = time.monotonic() + 10
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within 10 s")
        await asyncio.sleep(0.001)


def line(label: str, seconds: list[float], unit: str = "ms") -> str:
    scale = {"ms": 1e3, "s": 1.0}[unit]
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    digits = 1 if unit == "ms" else 2
    return (f"{label:<48} median {statistics.median(ordered) * scale:7.{digits}f} {unit}  "
            f"p95 {p95 * scale:7.{digits}f} {unit}  max {ordered[-1] * scale:7.{digits}f} {unit}  "
            f"(n={len(ordered)})")


async def timed(call: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    await call()  # warm-up: the port is opened by the first call
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


def ticket(number: int) -> TicketPrint:
    return TicketPrint(f"A{number:03d}", str(uuid.uuid4()), "学生证办理", int(time.time() * 1000), 300, 2)


async def job_done(printer: SerialTicketPrinter, count: int) -> None:
    """Until the driver has read the paper status after the ``count``-th job."""
    await until(lambda: printer.tickets_printed >= count, "the job done")


async def swipe_to_cut(folder: Path, broker_url: str, database_url: str, repeat: int) -> list[float]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}/hall/v1"
    config = HallConfig.model_validate({
        "data_dir": str(folder / "hall-data"), "devices": {"auto_register": True},
        "mqtt": {"topic_prefix": prefix, "client_id": f"bench-{uuid.uuid4().hex[:8]}"}})
    hardware = HardwareSettings(printer=PrinterSettings(port=str(folder / "kiosk-printer")),
                                card_reader=CardReaderSettings(port=str(folder / "card-reader")))
    kiosk = HardwareKiosk(hardware, card_service="student-id", service_names={"student-id": "学生证办理"})
    agent = EdgeAgent(AgentSettings(device_id="kiosk-bench", kind=DeviceKind.KIOSK, broker_url=broker_url,
                                    topic_prefix=prefix, durable=False), kiosk)
    driver = kiosk.printer
    assert isinstance(driver, SerialTicketPrinter)
    printer = TimedPrinter(folder / "kiosk-printer")
    samples = []
    async with (fresh_database(database_url) as dsn, assemble(config, broker_url, dsn) as hall,
                hall.controller.running(), printer,
                EmulatedCardReader(folder / "card-reader") as reader, agent):
        await agent.wait_connected(10)
        await until(lambda: driver.online, "the printer answering")
        for n in range(repeat + 1):  # the first swipe also registers the kiosk: a warm-up
            started = time.perf_counter()
            reader.swipe(f"2023{n:06d}")  # another card each time: a card held is one swipe
            cut = await printer.next_cut()
            await job_done(driver, n + 1)
            if n:
                samples.append(cut - started)
    return samples


async def queued_to_cut(folder: Path, repeat: int) -> list[float]:
    driver = SerialTicketPrinter(PrinterSettings(port=str(folder / "printer")), Events())
    printer = TimedPrinter(folder / "printer")
    samples = []
    async with printer:
        task = asyncio.create_task(driver.run())
        try:
            await until(lambda: driver.online, "the printer answering")
            for n in range(repeat + 1):
                started = time.perf_counter()
                await driver.print_ticket(ticket(n))
                cut = await printer.next_cut()
                await job_done(driver, n + 1)
                if n:
                    samples.append(cut - started)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return samples


async def lock_board(folder: Path, repeat: int) -> tuple[list[float], list[float]]:
    settings = LockBoardSettings(port=str(folder / "rs485"))
    async with EmulatedLockBus(folder / "rs485", addresses=(settings.address,)):
        bus = ModbusBus(settings, Events())
        board = ModbusLockBoard(bus, settings.address)
        try:
            reads = await timed(board.read_inputs, repeat)
            pulses = await timed(lambda: board.pulse(settings.relay, 500), repeat)
        finally:
            bus.close()
    return reads, pulses


async def led_call(folder: Path, repeat: int) -> list[float]:
    settings = LedDisplaySettings(port=str(folder / "led"))
    async with EmulatedLedController(folder / "led", settings.address):
        display = SerialLedDisplay(settings, Events())
        try:
            return await timed(lambda: display.show_call("A012", "3", "请 A012 号到 3 号窗口"), repeat)
        finally:
            display.link.close()


async def unplugged_and_back(folder: Path, repeat: int) -> tuple[list[float], list[float]]:
    """Seconds from unplugging the printer to ``hardware.fault``, and from plugging it back
    ``OUTAGE_S`` after it was unplugged to ``hardware.recovered``."""
    settings = PrinterSettings(port=str(folder / "printer-unplugged"))
    events = Events()
    driver = SerialTicketPrinter(settings, events)
    faults, recoveries = [], []
    async with TimedPrinter(folder / "printer-unplugged") as printer:
        task = asyncio.create_task(driver.run())
        try:
            await until(lambda: driver.online, "the printer answering")
            for _ in range(repeat):
                # At a random point of the status poll: not in step with it.
                await asyncio.sleep(random.uniform(0, settings.poll_interval_s))
                unplugged = time.perf_counter()
                printer.port.unplug()
                faults.append(await events.next("hardware.fault") - unplugged)
                await asyncio.sleep(max(0.0, unplugged + OUTAGE_S - time.perf_counter()))
                plugged = time.perf_counter()
                printer.port.plug()
                recoveries.append(await events.next("hardware.recovered") - plugged)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return faults, recoveries


async def main(args: argparse.Namespace) -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"median / p95 / max of --repeat {args.repeat}, after one warm-up")
    with tempfile.TemporaryDirectory(prefix="hall-bench-hw-") as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        print(line("printer driver: ticket queued -> cut", await queued_to_cut(folder, args.repeat)),
              flush=True)
        reads, pulses = await lock_board(folder, args.repeat)
        print(line("lock board: read_inputs (2 Modbus exchanges)", reads), flush=True)
        print(line("lock board: pulse (1 Modbus exchange)", pulses), flush=True)
        print(line("LED display: call, until its ack", await led_call(folder, args.repeat)), flush=True)
        faults, recoveries = await unplugged_and_back(folder, args.repeat)
        print(line("printer unplugged -> hardware.fault", faults, "s"), flush=True)
        print(line(f"printer back after {OUTAGE_S:.0f} s -> hardware.recovered", recoveries, "s"),
              flush=True)
        broker_url = args.broker_url or stack.enter_context(private_mosquitto()).plain_url
        swipes = await swipe_to_cut(folder, broker_url, args.database_url, args.repeat)
        print(line("kiosk: swipe -> ticket.take -> ticket cut", swipes), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30, help="samples per row")
    parser.add_argument("--broker-url", default="", help="default: a private Mosquitto")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    logging.basicConfig(level=logging.ERROR)  # the faults it causes are the point, not news
    asyncio.run(main(parser.parse_args()))
