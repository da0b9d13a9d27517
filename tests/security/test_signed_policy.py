"""Attack: hand a dorm lock a policy on its ``res`` topic.

Anything that can publish on a lock's ``res`` topic can answer its ``access.sync`` request
before the controller does (here: while the controller restarts). The lock must apply only
what the controller signed for it: a forged policy letting an intruder's card in, the same
policy unsigned, and a recorded older signed reply (a rollback to a policy that still had a
moved-out resident) are all refused; the lock keeps deciding from what it held, reports each
refusal, and the controller audits it and raises an alarm once it hears of it.

Real broker, real PostgreSQL, the real controller and the real edge agents of a door lock
(over an emulated RS-485 lock board) and of face gates.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import pytest

from devices.contract import now_ms
from devices.hardware.settings import HardwareSettings, LockBoardSettings
from devices.kinds import DeviceKind
from devices.signing import derive_device_key
from edge.access_sync import POLICY_FILE, AccessKeeper
from edge.agent import EdgeAgent
from edge.door import DoorConfig
from edge.drivers.door_lock import HardwareDoor
from edge.face_gate import FaceGateDriver, GateSettings
from edge.settings import AgentSettings
from hall_controller.access.policy_refusals import POLICY_REFUSED
from hall_controller.access.postgres_store import PostgresAccessStore
from hall_controller.access.rules import Person, Role
from hall_controller.access.service import AccessService
from hall_controller.fleet.model import AlarmStatus
from simulators.emulated import EmulatedLockBus
from tests.support.controller import eventually, mqtt_client, running_controller
from tests.support.hall_store import PostgresHallStore

pytestmark = pytest.mark.integration

MASTER = b"security-test-master-secret-0123456789"
RESIDENT_CARD = "2026000001"
MOVED_OUT_CARD = "2026000002"
INTRUDER_CARD = "2026000666"


class Attacker:
    """A plain MQTT client on the lock's topics: it records the controller's replies, watches
    the lock's events and, while ``answer`` is set, answers every ``access.sync`` request."""

    def __init__(self, client: aiomqtt.Client, prefix: str, device_id: str) -> None:
        self.client = client
        self.base = f"{prefix}/dev/{device_id}"
        self.replies: list[dict[str, Any]] = []   # the controller's signed results, recorded
        self.refusals: list[str] = []             # the reasons the lock reported
        self.answer: dict[str, Any] | None = None
        self.answered = 0

    async def run(self) -> None:
        async for message in self.client.messages:
            body = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            topic = str(message.topic)
            if topic == f"{self.base}/res" and body.get("ok") and body["result"].get("changed"):
                self.replies.append(body["result"])
            elif topic == f"{self.base}/event" and body.get("type") == POLICY_REFUSED:
                self.refusals.append(body["data"]["reason"])
            elif topic == f"{self.base}/req" and body.get("method") == "access.sync" \
                    and self.answer is not None:
                await self.client.publish(f"{self.base}/res", json.dumps(
                    {"id": body["id"], "ok": True, "result": self.answer}), qos=1)
                self.answered += 1

    async def send_refresh(self) -> None:
        """``access.refresh`` needs no signature: it only makes the lock ask (and verify)."""
        await self.client.publish(f"{self.base}/cmd", json.dumps({
            "id": str(uuid.uuid4()), "method": "access.refresh", "params": {},
            "expires_at": now_ms() + 10_000}), qos=1)


@contextlib.asynccontextmanager
async def attacker(broker_url: str, prefix: str, device_id: str) -> AsyncIterator[Attacker]:
    async with mqtt_client(broker_url) as client:
        spy = Attacker(client, prefix, device_id)
        for channel in ("req", "res", "event"):
            await client.subscribe(f"{spy.base}/{channel}", qos=1)
        task = asyncio.create_task(spy.run())
        try:
            yield spy
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def policy_refusals_audited(store: PostgresHallStore, device_id: str) -> list[str]:
    async with store.pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT reason FROM access_audit WHERE device_id = %s AND category = 'door' "
            "AND action = 'access.policy_refused' AND outcome = 'refused' ORDER BY id",
            (device_id,))).fetchall()
    return [r[0] for r in rows]


async def test_a_lock_refuses_forged_unsigned_and_replayed_policies_and_the_controller_hears(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore, tmp_path: Path) -> None:
    access = PostgresAccessStore(hall_store.pool)
    await access.upsert_person(Person("s-resident", "王芳", Role.STUDENT, ("dorm-b3",),
                                      (RESIDENT_CARD,)), "test")
    await access.upsert_person(Person("s-moved-out", "赵磊", Role.STUDENT, ("dorm-b3",),
                                      (MOVED_OUT_CARD,)), "test")
    await access.add_rule("dorm-b3", "lock-b3-*", "always", "test")

    device_id = f"lock-b3-{uuid.uuid4().hex[:6]}"
    key = derive_device_key(MASTER, device_id)  # what the lock is provisioned with
    keeper = AccessKeeper(tmp_path / "access", with_gallery=False, sync_retry_s=0.3, key=key)
    hardware = HardwareSettings(lock_board=LockBoardSettings(
        port=str(tmp_path / "rs485"), address=1, relay=0, poll_interval_s=0.1, timeout_s=0.2))
    agent = EdgeAgent(AgentSettings(device_id=device_id, kind=DeviceKind.DOOR_LOCK,
                                    broker_url=broker_url, topic_prefix=topic_prefix,
                                    durable=False, telemetry_interval_s=1.0, command_key=key),
                      HardwareDoor(hardware, door=DoorConfig(release_s=1.0), access=keeper))
    client_id = f"ctl-{uuid.uuid4().hex[:8]}"

    def lets_in(card: str) -> bool:
        return keeper.authorize_card(card, now_ms())[0]

    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(EmulatedLockBus(tmp_path / "rs485", addresses=(1,)))
        spy = await stack.enter_async_context(attacker(broker_url, topic_prefix, device_id))
        first = running_controller(broker_url, topic_prefix, hall_store, access=access,
                                   command_secret=MASTER, client_id=client_id, keep_session=True)
        controller = await first.__aenter__()
        controller_up = True
        try:
            await stack.enter_async_context(agent)

            async def synced_both() -> bool:
                return lets_in(RESIDENT_CARD) and lets_in(MOVED_OUT_CARD)
            await eventually(synced_both, 15, "the lock synced its first policy")
            # The student moves out: the lock syncs the newer policy without them.
            await controller.services.get(AccessService).delete_person("s-moved-out", "test")

            async def moved_out() -> bool:
                return not lets_in(MOVED_OUT_CARD) and lets_in(RESIDENT_CARD)
            await eventually(moved_out, 15, "the lock dropped the moved-out student")
            held = keeper.version
            assert held is not None
            recorded = next(r for r in spy.replies if r["version"] < held)  # signed, older
            assert "signature" in recorded

            await first.__aexit__(None, None, None)
            controller_up = False

            # The controller is away; the attacker answers the lock's requests instead.
            forged = copy.deepcopy(recorded)
            forged["version"] = forged["policy"]["version"] = held + 10
            forged["policy"]["people"].append({
                "person_id": "intruder", "schedules": ["always"], "valid_from_ms": None,
                "valid_until_ms": None, "cards": [INTRUDER_CARD]})
            unsigned = {k: v for k, v in forged.items() if k != "signature"}
            for answer, reason in ((forged, "bad_signature"), (unsigned, "unsigned"),
                                   (recorded, "rollback")):
                spy.answer = answer
                await spy.send_refresh()

                async def reported(reason: str = reason) -> bool:
                    return reason in spy.refusals
                await eventually(reported, 20, f"the lock reported {reason}")
                assert keeper.version == held
                assert lets_in(RESIDENT_CARD)
                assert not lets_in(INTRUDER_CARD) and not lets_in(MOVED_OUT_CARD)
            spy.answer = None
            assert spy.refusals == ["bad_signature", "unsigned", "rollback"]
            assert spy.answered >= 3
            # Nothing refused reached the disk: a restarted lock holds the same policy.
            assert json.loads((tmp_path / "access" / POLICY_FILE).read_text())["version"] == held

            # The controller returns to the same session: the lock's reports arrive.
            async with running_controller(broker_url, topic_prefix, hall_store, access=access,
                                          command_secret=MASTER, client_id=client_id):
                async def audited() -> bool:
                    return len(await policy_refusals_audited(hall_store, device_id)) == 3
                await eventually(audited, 20, "the refusals in the access audit")
        finally:
            if controller_up:
                await first.__aexit__(None, None, None)

    assert await policy_refusals_audited(hall_store, device_id) == [
        "bad_signature", "unsigned", "rollback"]
    [alarm] = [a for a in await hall_store.list_alarms(device_id=device_id)
               if a.type == POLICY_REFUSED]
    assert alarm.status is AlarmStatus.ACTIVE and alarm.count == 3
    assert alarm.details["reason"] == "rollback"


class NoFrames:
    """A camera that shows nothing: these gates only sync."""

    def read(self) -> None:
        return None

    def close(self) -> None:
        pass


def face_gate(broker_url: str, prefix: str, device_id: str, state_dir: Path,
              key: bytes) -> tuple[EdgeAgent, FaceGateDriver]:
    driver = FaceGateDriver(GateSettings(source="test", state_dir=state_dir, sync_retry_s=0.3,
                                         idle_sleep_s=0.05),
                            frames=NoFrames(), device_key=key)  # type: ignore[arg-type]
    agent = EdgeAgent(AgentSettings(device_id=device_id, kind=DeviceKind.FACE_GATE,
                                    broker_url=broker_url, topic_prefix=prefix, durable=False,
                                    telemetry_interval_s=1.0, command_key=key), driver)
    return agent, driver


async def test_a_gate_applies_its_signed_gallery_and_one_with_the_wrong_key_refuses_it(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore, tmp_path: Path) -> None:
    access = PostgresAccessStore(hall_store.pool)
    await access.upsert_person(Person("s-gate", "李雷", Role.STUDENT, ("hall",)), "test")
    await access.add_rule("hall", "gate-sec-*", "always", "test")
    embedding = np.linspace(-0.2, 0.2, 128, dtype="<f4").tobytes()
    await access.add_faces("s-gate", [embedding], "test", 10)

    good_id, bad_id = (f"gate-sec-{uuid.uuid4().hex[:6]}" for _ in range(2))
    good, good_driver = face_gate(broker_url, topic_prefix, good_id, tmp_path / "good",
                                  derive_device_key(MASTER, good_id))
    # Provisioned with a key from another master (a wrong bundle): it cannot verify its policy.
    bad, bad_driver = face_gate(broker_url, topic_prefix, bad_id, tmp_path / "bad",
                                derive_device_key(b"some-other-master-secret-0123456789", bad_id))

    async with running_controller(broker_url, topic_prefix, hall_store, access=access,
                                  command_secret=MASTER), good, bad:
        async def good_synced() -> bool:
            return good_driver.gallery is not None and good_driver.gallery.person_ids == ("s-gate",)
        await eventually(good_synced, 20, "the gate applied its signed gallery")

        async def bad_audited() -> bool:
            return await policy_refusals_audited(hall_store, bad_id) == ["bad_signature"]
        await eventually(bad_audited, 20, "the wrong-key gate's refusal audited")
        assert bad_driver.gallery is None and bad_driver.policy is None  # decides nobody in
        assert bad_driver.access.refusals >= 1

    assert await policy_refusals_audited(hall_store, good_id) == []
    alarms = {(a.device_id, a.type) for a in await hall_store.list_alarms(status=AlarmStatus.ACTIVE)}
    assert (bad_id, POLICY_REFUSED) in alarms and (good_id, POLICY_REFUSED) not in alarms
