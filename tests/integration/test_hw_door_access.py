"""A dorm door deciding campus cards from the policy it synced: an emulated card reader and RS-485
lock board, the real controller with access control over PostgreSQL, the real broker.

The rules live on the controller (person, card, group, rule); the lock gets them with
``access.sync`` and decides each swipe itself; a change on the controller reaches it with
``access.refresh``."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from devices.hardware.settings import CardReaderSettings, HardwareSettings, LockBoardSettings
from devices.kinds import DeviceKind
from edge.access_sync import AccessKeeper
from edge.agent import EdgeAgent
from edge.door import DoorConfig
from edge.drivers.door_lock import HardwareDoor
from edge.settings import AgentSettings
from hall_controller.access.postgres_store import PostgresAccessStore
from hall_controller.access.rules import Person, Role
from hall_controller.access.service import AccessService
from hall_controller.fleet.postgres_store import PostgresStore
from simulators.emulated import EmulatedCardReader, EmulatedLockBus
from tests.support.controller import eventually, running_controller

pytestmark = pytest.mark.integration


async def test_a_door_decides_cards_from_its_synced_policy(
        broker_url: str, topic_prefix: str, store: PostgresStore, tmp_path: Path) -> None:
    access = PostgresAccessStore(store.pool)
    await access.upsert_person(Person("s2026001", "王芳", Role.STUDENT, ("dorm-b3",),
                                      ("2026000001",)), "test")
    await access.upsert_person(Person("s2026002", "赵磊", Role.STUDENT, ("dorm-b5",),
                                      ("2026000002",)), "test")
    await access.add_rule("dorm-b3", "lock-b3-*", "always", "test")

    device_id = f"lock-b3-{uuid.uuid4().hex[:6]}"
    hardware = HardwareSettings(
        lock_board=LockBoardSettings(port=str(tmp_path / "rs485"), address=1, relay=0,
                                     poll_interval_s=0.1, timeout_s=0.2),
        # A short debounce: the same card is swiped again within a second below.
        card_reader=CardReaderSettings(port=str(tmp_path / "card"), debounce_s=0.05,
                                       timeout_s=0.3))
    keeper = AccessKeeper(tmp_path / "access", with_gallery=False, sync_retry_s=0.5)
    driver = HardwareDoor(hardware, door=DoorConfig(release_s=1.0), access=keeper)
    agent = EdgeAgent(AgentSettings(device_id=device_id, kind=DeviceKind.DOOR_LOCK,
                                    broker_url=broker_url, topic_prefix=topic_prefix,
                                    durable=False, telemetry_interval_s=0.5), driver)

    async def decisions() -> list[tuple[str, str | None, str]]:
        events = await store.list_events(device_id, 100)
        return [(e["type"], e["data"].get("person_id"), e["data"].get("reason"))
                for e in reversed(events) if e["type"].startswith("access.")]

    async with EmulatedLockBus(tmp_path / "rs485", addresses=(1,)) as bus, \
            EmulatedCardReader(tmp_path / "card") as reader, \
            running_controller(broker_url, topic_prefix, store, access=access) as controller, \
            agent:
        await agent.wait_connected(10)

        async def synced() -> bool:
            return keeper.policy is not None and "s2026001" in keeper.policy.people
        await eventually(synced, 15, "the lock synced its policy")
        assert set(keeper.policy.people) == {"s2026001"} if keeper.policy else False

        reader.swipe("2026000001")  # allowed here

        async def pulsed() -> bool:
            return bool(bus.boards[1].pulses)
        await eventually(pulsed, 10, "the strike released for the allowed card")
        reader.swipe("2026000002")  # a student of another dorm
        reader.swipe("9999999999")  # nobody's card

        async def three() -> bool:
            return len(await decisions()) == 3
        await eventually(three, 10, "three decisions")
        assert await decisions() == [
            ("access.granted", "s2026001", "allowed"),
            ("access.denied", None, "unknown_credential"),
            ("access.denied", None, "unknown_credential")]

        # Deleted on the controller: the lock is told to refresh (access.refresh) and refuses
        # the card from then on.
        await controller.services.get(AccessService).delete_person("s2026001", "test")

        async def dropped() -> bool:
            return keeper.policy is not None and "s2026001" not in keeper.policy.people
        await eventually(dropped, 10, "the lock dropped the deleted person")

        # The grant above holds the strike open for release_s with keep-alive pulses; count
        # from when the door has locked again, or a late keep-alive looks like a release.
        def relocked() -> bool:
            return not driver.logic.relay_released and not bus.boards[1].relay_on(0)
        await eventually(relocked, 10, "the door locked again after the grant")
        pulses = len(bus.boards[1].pulses)
        reader.swipe("2026000001")

        async def four() -> bool:
            return len(await decisions()) == 4
        await eventually(four, 10, "the fourth decision")
        assert (await decisions())[-1][0] == "access.denied"
        assert len(bus.boards[1].pulses) == pulses
