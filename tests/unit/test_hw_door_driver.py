"""The hardware door driver over an in-memory lock board and a test clock: how board inputs
become door events and how the strike relay is pulsed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from devices.contract import Response
from devices.hardware.fakes import FakeCardReader, FakeLockBoard
from devices.hardware.ports import LockInputs
from devices.hardware.settings import HardwareSettings, LockBoardSettings
from edge.door import DoorConfig
from edge.drivers.door_lock import HardwareDoor, battery_pct
from edge.errors import CommandRefused
from tests.support.waiting import eventually

HARDWARE = HardwareSettings(lock_board=LockBoardSettings(port="/dev/null", relay=2, poll_interval_s=0.25))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Agent:
    """What the driver sees of an agent: it only emits events here."""

    device_id = "lock-test"

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def emit_event(self, type: str, data: Mapping[str, Any] | None = None) -> str:
        self.events.append((type, dict(data or {})))
        return str(len(self.events))

    async def request(self, method: str, params: Mapping[str, Any] | None = None,
                      timeout_s: float = 10.0) -> Response:
        raise AssertionError("a door sends no requests")

    def types(self) -> list[str]:
        return [t for t, _ in self.events]


@pytest.fixture
async def door() -> tuple[HardwareDoor, FakeLockBoard, Clock, Agent]:
    board, clock, agent = FakeLockBoard(), Clock(), Agent()
    driver = HardwareDoor(HARDWARE, door=DoorConfig(held_open_after_s=10, release_s=3), board=board,
                          clock=clock, allowed_cards={"2023001": "p-1"})
    await driver.events.attach(agent)
    return driver, board, clock, agent


async def test_a_remote_unlock_pulses_the_strike_and_keeps_it_released_while_granted(door: Any) -> None:
    driver, board, clock, agent = door
    result = await driver.handle_command("door.unlock", {"duration_s": 2})
    assert result == {"unlocked": True, "duration_s": 2.0}
    assert board.pulses == [(2, driver.hold_ms)]  # pulsed before the ack
    clock.now += 0.25
    await driver.poll_once()
    assert len(board.pulses) == 1  # the pulse still has time left
    clock.now += 0.6
    await driver.poll_once()
    assert board.pulses[-1] == (2, driver.hold_ms)  # renewed before it ran out
    assert len(board.pulses) == 2
    clock.now += 0.55  # 101.4: renewed again, now until 102.4
    await driver.poll_once()
    assert len(board.pulses) == 3
    clock.now += 0.7  # 102.1: the 2 s grant is over, the pulse is not
    await driver.poll_once()
    assert board.pulses[-1] == (2, 0)  # so the strike is dropped at once
    assert agent.types().index("door.unlocked") < agent.types().index("door.locked")
    clock.now += 1
    await driver.poll_once()
    assert len(board.pulses) == 4  # locked and quiet


async def test_contact_without_a_release_is_forced_and_an_exit_press_releases(door: Any) -> None:
    driver, board, clock, agent = door
    board.inputs = LockInputs(door_open=True, tamper=False, supply_v=12.0, battery_v=12.6)
    await driver.poll_once()
    assert "door.forced" in agent.types()
    board.inputs = LockInputs(door_open=False, tamper=True, supply_v=12.0, battery_v=12.6, exit_pressed=True)
    clock.now += 0.25
    await driver.poll_once()
    assert {"door.closed", "lock.tamper", "door.unlocked"} <= set(agent.types())
    assert board.pulses == [(2, driver.hold_ms)]
    await driver.poll_once()  # the button still held: one press, one release
    assert agent.types().count("door.unlocked") == 1


async def test_battery_voltage_becomes_a_percentage_with_a_low_battery_event(door: Any) -> None:
    driver, board, _, agent = door
    board.inputs = LockInputs(door_open=False, tamper=False, supply_v=0.0, battery_v=10.8)
    await driver.poll_once()
    assert ("lock.battery_low", {"battery_pct": battery_pct(10.8)}) in agent.events
    assert driver.read_telemetry()["battery_v"] == 10.8
    assert battery_pct(9.0) == 0.0 and battery_pct(14.0) == 100.0


async def test_a_card_on_the_allow_list_opens_and_a_stranger_is_denied(door: Any) -> None:
    driver, board, _, agent = door
    reader = FakeCardReader()
    reader.swipe("9999")
    reader.swipe("2023001")
    task = asyncio.create_task(driver._serve_cards(reader))  # the card task of run()
    await eventually(lambda: len([t for t, _ in agent.events if t.startswith("access.")]) == 2,
                     what="both cards decided")
    task.cancel()
    denied = [d for t, d in agent.events if t == "access.denied"]
    granted = [d for t, d in agent.events if t == "access.granted"]
    assert denied[0]["credential"] == "9999" and granted[0]["person_id"] == "p-1"
    assert board.pulses == [(2, driver.hold_ms)]


async def test_bad_commands_are_refused(door: Any) -> None:
    driver, board, _, _ = door
    for params in ({"duration_s": 0}, {"duration_s": "5"}, {"duration_s": 10_000}):
        with pytest.raises(CommandRefused):
            await driver.handle_command("door.unlock", params)
    with pytest.raises(CommandRefused, match="invalid_params"):
        await driver.handle_command("door.set_mode", {"mode": "party"})
    await driver.handle_command("door.set_mode", {"mode": "locked_down"})
    with pytest.raises(CommandRefused, match="locked_down"):
        await driver.handle_command("door.unlock", {"duration_s": 2})
    assert board.pulses == []
