"""A door-lock agent on an emulated RS-485 Modbus lock board, against the real broker, the real
controller and PostgreSQL: a signed remote unlock pulses the relay, the door contact produces
door.opened / door.closed, a door held open raises its alarm (cleared when it closes), tamper
raises its alarm, and an unplugged bus is reported and recovered by itself."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from devices.contract import Command
from devices.hardware.settings import HardwareSettings, LockBoardSettings
from devices.kinds import DeviceKind
from devices.signing import derive_device_key, sign_command
from edge.agent import EdgeAgent
from edge.door import DoorConfig
from edge.drivers.door_lock import HardwareDoor
from edge.settings import AgentSettings
from hall_controller.fleet.model import AlarmStatus, CommandStatus
from hall_controller.fleet.postgres_store import PostgresStore
from simulators.emulated import EmulatedLockBus
from tests.support.controller import eventually, running_controller

pytestmark = pytest.mark.integration

MASTER = b"controller-master-secret-for-hw-tests"
ADDRESS = 3
RELAY = 2


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[EmulatedLockBus]:
    # Two boards on the bus; this door's is at ADDRESS.
    async with EmulatedLockBus(tmp_path / "rs485", addresses=(1, ADDRESS)) as emulated:
        yield emulated


def door_driver(tmp_path: Path) -> HardwareDoor:
    hardware = HardwareSettings(lock_board=LockBoardSettings(
        port=str(tmp_path / "rs485"), address=ADDRESS, relay=RELAY, poll_interval_s=0.1, timeout_s=0.2,
        reopen_initial_s=0.05, reopen_max_s=0.3))
    return HardwareDoor(hardware, door=DoorConfig(held_open_after_s=1.0, release_s=2.0))


async def test_remote_unlock_contact_held_open_tamper_and_an_unplugged_bus(
        broker_url: str, topic_prefix: str, store: PostgresStore, bus: EmulatedLockBus,
        tmp_path: Path) -> None:
    device_id = f"lock-{uuid.uuid4().hex[:6]}"
    key = derive_device_key(MASTER, device_id)
    driver = door_driver(tmp_path)
    agent = EdgeAgent(AgentSettings(device_id=device_id, kind=DeviceKind.DOOR_LOCK, broker_url=broker_url,
                                    topic_prefix=topic_prefix, durable=False, telemetry_interval_s=0.5,
                                    command_key=key), driver)
    board = bus.boards[ADDRESS]

    def signer(command: Command, target: str) -> Command:
        return sign_command(command, target, key)

    async with running_controller(broker_url, topic_prefix, store) as controller, agent:
        await agent.wait_connected(10)
        await eventually(lambda: _registered(controller, device_id), 10, "the lock registered")
        assert board.pulses == []

        done = await controller.commands.send(device_id, "door.unlock", {"duration_s": 3}, "test",
                                              timeout_s=5, ttl_s=10, signer=signer)
        assert done.status == CommandStatus.SUCCEEDED, done
        # Acknowledged only once the relay was pulsed, on this board only.
        assert board.pulses and board.pulses[0][0] == RELAY and board.relay_on(RELAY)
        assert bus.boards[1].pulses == []

        board.door_open = True
        await eventually(_event(store, device_id, "door.opened"), 5, "door.opened")
        await eventually(_alarm(store, device_id, "door.held_open", active=True), 10, "held-open alarm")
        board.door_open = False
        await eventually(_event(store, device_id, "door.closed"), 5, "door.closed")
        await eventually(_alarm(store, device_id, "door.held_open", active=False), 10, "held-open cleared")
        # The release ended: the board's relay is no longer energised.
        await eventually(_true(lambda: not board.relay_on(RELAY)), 5, "the strike locked again")

        board.tamper = True
        await eventually(_alarm(store, device_id, "lock.tamper", active=True), 10, "tamper alarm")

        bus.port.unplug()
        await eventually(_alarm(store, device_id, "hardware.lock_board", active=True), 10,
                         "lock-board hardware alarm")
        bus.port.plug()
        await eventually(_alarm(store, device_id, "hardware.lock_board", active=False), 10,
                         "lock-board hardware alarm cleared")
        recovered: list[Any] = [e["data"] for e in await store.list_events(device_id, 200)
                                if e["type"] == "hardware.recovered"]
        assert recovered and recovered[0]["part"] == "lock_board"
        assert recovered[0]["outage_s"] > 0


async def test_a_forged_unlock_never_reaches_the_relay(
        broker_url: str, topic_prefix: str, store: PostgresStore, bus: EmulatedLockBus,
        tmp_path: Path) -> None:
    device_id = f"lock-{uuid.uuid4().hex[:6]}"
    agent = EdgeAgent(AgentSettings(device_id=device_id, kind=DeviceKind.DOOR_LOCK, broker_url=broker_url,
                                    topic_prefix=topic_prefix, durable=False,
                                    command_key=derive_device_key(MASTER, device_id)), door_driver(tmp_path))
    wrong_key = derive_device_key(b"someone-else-entirely-secret", device_id)

    def forger(command: Command, target: str) -> Command:
        return sign_command(command, target, wrong_key)

    async with running_controller(broker_url, topic_prefix, store) as controller, agent:
        await agent.wait_connected(10)
        await eventually(lambda: _registered(controller, device_id), 10, "the lock registered")
        refused = await controller.commands.send(device_id, "door.unlock", {"duration_s": 3}, "test",
                                                 timeout_s=5, ttl_s=10, signer=forger)
        assert refused.status != CommandStatus.SUCCEEDED
        assert bus.boards[ADDRESS].pulses == []


async def _registered(controller: Any, device_id: str) -> bool:
    record = controller.registry.get(device_id)
    return record is not None and record.online


def _event(store: PostgresStore, device_id: str, type_: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return any(e["type"] == type_ for e in await store.list_events(device_id, 200))
    return check


def _alarm(store: PostgresStore, device_id: str, type_: str, *,
           active: bool) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        alarms = await store.list_alarms(AlarmStatus.ACTIVE, device_id=device_id)
        return any(a.type == type_ for a in alarms) == active
    return check


def _true(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def wrapped() -> bool:
        return check()
    return wrapped
