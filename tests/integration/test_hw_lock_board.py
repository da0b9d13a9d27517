"""The Modbus RTU lock board driver against emulated boards on a pseudo-terminal RS-485 bus."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devices.hardware.errors import DeviceNotAnswering, PortUnavailable
from devices.hardware.lock_board import BoardRefused, ModbusBus, ModbusLockBoard
from devices.hardware.ports import LockInputs
from devices.hardware.settings import LockBoardSettings
from simulators.emulated import EmulatedLockBus
from tests.support.waiting import eventually


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, type_: str, data: dict[str, Any]) -> None:
        self.events.append((type_, data))

    def types(self) -> list[str]:
        return [t for t, _ in self.events]


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[tuple[EmulatedLockBus, ModbusBus, Recorder]]:
    path = tmp_path / "rs485"
    recorder = Recorder()
    settings = LockBoardSettings(port=str(path), timeout_s=0.2, reopen_initial_s=0.05, reopen_max_s=0.2)
    async with EmulatedLockBus(path, addresses=(1, 2)) as emulated:
        driver = ModbusBus(settings, recorder, retries=1)
        try:
            yield emulated, driver, recorder
        finally:
            driver.close()


async def test_a_pulse_energises_only_that_relay_of_that_board_for_its_time(bus: Any) -> None:
    emulated, driver, _ = bus
    await ModbusLockBoard(driver, 2).pulse(relay=3, duration_ms=300)
    board = emulated.boards[2]
    assert board.pulses == [(3, 300)]
    assert board.relay_on(3) and not board.relay_on(0)
    assert emulated.boards[1].pulses == []
    # The board, not the host, ends the pulse.
    await eventually(lambda: not board.relay_on(3), what="the board ending the 300 ms pulse")
    await ModbusLockBoard(driver, 2).pulse(relay=3, duration_ms=5000)
    await ModbusLockBoard(driver, 2).pulse(relay=3, duration_ms=0)
    assert not board.relay_on(3)  # 0 ends a pulse early (a lockdown)


async def test_inputs_and_voltages_are_read_from_the_addressed_board(bus: Any) -> None:
    emulated, driver, _ = bus
    emulated.boards[1].door_open = True
    emulated.boards[1].battery_v = 11.37
    emulated.boards[2].tamper = True
    one = await ModbusLockBoard(driver, 1).read_inputs()
    two = await ModbusLockBoard(driver, 2).read_inputs()
    assert (one.door_open, one.tamper, one.supply_v, one.battery_v) == (True, False, 12.0, 11.37)
    assert (two.door_open, two.tamper) == (False, True)


async def test_a_garbled_answer_is_counted_and_the_request_retried(bus: Any) -> None:
    emulated, driver, recorder = bus
    emulated.corrupt_answers = 1
    inputs = await ModbusLockBoard(driver, 1).read_inputs()
    assert inputs.supply_v == 12.0
    assert driver.link.health.bad_frames == 1
    assert "hardware.fault" not in recorder.types()


async def test_a_board_that_does_not_answer_is_reported_and_its_return_too(bus: Any) -> None:
    emulated, driver, recorder = bus
    await ModbusLockBoard(driver, 1).read_inputs()
    emulated.port.silent = True
    with pytest.raises(DeviceNotAnswering):
        await ModbusLockBoard(driver, 1).read_inputs()
    assert recorder.events[-1] == ("hardware.fault", {"part": "lock_board", "port": driver.link.port,
                                                      "reason": "board 1 does not answer"})
    assert not driver.link.health.online
    emulated.port.silent = False
    await ModbusLockBoard(driver, 1).read_inputs()
    assert recorder.types()[-1] == "hardware.recovered"
    assert driver.link.health.online


async def test_an_unplugged_bus_is_reopened_when_it_comes_back(bus: Any) -> None:
    emulated, driver, recorder = bus
    board = ModbusLockBoard(driver, 1)
    await board.read_inputs()
    unplugged = time.monotonic()
    emulated.port.unplug()
    with pytest.raises(PortUnavailable):
        await board.read_inputs()
    faulted = time.monotonic()

    async def reopen_tried() -> bool:
        # Between reopen attempts a read fails fast ("... is unavailable"); wait for a real one.
        with pytest.raises(PortUnavailable) as failed:
            await board.read_inputs()
        return str(failed.value).startswith("cannot open")
    await eventually(reopen_tried, what="a reopen attempt on the missing port", interval_s=0.02)
    assert recorder.types() == ["hardware.fault"]  # one fault however many attempts fail
    plugged = time.monotonic()
    emulated.port.plug()
    inputs = await poll_until_answered(board)
    recovered = time.monotonic()
    assert inputs.supply_v == 12.0
    assert recorder.types()[-1] == "hardware.recovered"
    # The outage it reports lies between what the test itself saw of it.
    outage_s = recorder.events[-1][1]["outage_s"]
    assert plugged - faulted - 0.001 <= outage_s <= recovered - unplugged + 0.001


async def poll_until_answered(board: ModbusLockBoard) -> LockInputs:
    """What a door agent's poll loop does: try again every poll interval."""
    async def answered() -> LockInputs | None:
        try:
            return await board.read_inputs()
        except PortUnavailable:
            return None
    return await eventually(answered, timeout_s=5, what="the board answering again")


async def test_bad_requests_are_refused_by_the_board_or_the_driver(bus: Any) -> None:
    _, driver, _ = bus
    with pytest.raises(ValueError, match="relay"):
        await ModbusLockBoard(driver, 1).pulse(relay=16, duration_ms=100)
    with pytest.raises(ValueError, match="relay"):
        await ModbusLockBoard(driver, 1).pulse(relay=0, duration_ms=70_000)
    with pytest.raises(ValueError, match="address"):
        ModbusLockBoard(driver, 0)
    from pymodbus.pdu.register_message import WriteSingleRegisterRequest
    with pytest.raises(BoardRefused):  # a register the board does not have
        await driver.exchange(WriteSingleRegisterRequest(address=99, registers=[1], dev_id=1))
