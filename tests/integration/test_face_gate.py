"""A face gate end to end: a real EdgeAgent running the face-gate driver (real dlib on real
photos), a real controller over Mosquitto and PostgreSQL, enrolment through the controller's
service, and the controller stopped half-way.

Frames are fed one by one from the test (a camera that shows what the test holds up to it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections import deque
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.kinds import DeviceKind
from devices.vision.decision import MatchPolicy
from edge.face_gate import FaceGateDriver, GateSettings
from hall_controller.access.postgres_store import PostgresAccessStore
from hall_controller.access.rules import Person, Role
from tests.integration.test_edge_agent import running, settings_for
from tests.support.controller import eventually, running_controller
from tests.support.faces import photo_bytes
from tests.support.hall_store import PostgresHallStore

pytestmark = pytest.mark.integration

K = 3  # frames that must agree


class HeldUpFrames:
    """A FrameSource the test fills: each ``show`` queues the photo for K frames."""

    def __init__(self) -> None:
        self._frames: deque[np.ndarray] = deque()
        self._lock = threading.Lock()

    def show(self, name: str, times: int = K) -> None:
        image = cv2.imdecode(np.frombuffer(photo_bytes(name), np.uint8), cv2.IMREAD_COLOR)
        height, width = image.shape[:2]
        if width > 640:  # what the camera source does: frames of at most 640 wide
            image = cv2.resize(image, (640, int(height * 640 / width)))
        with self._lock:
            self._frames.extend([image] * times)

    def read(self) -> np.ndarray | None:
        with self._lock:
            return self._frames.popleft() if self._frames else None

    def close(self) -> None:
        pass

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._frames)


async def decisions(store: PostgresHallStore, device_id: str) -> list[tuple[str, str | None, str]]:
    async with store.pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT outcome, person_id, reason FROM access_audit WHERE device_id = %s "
            "AND category = 'decision' ORDER BY ts, id", (device_id,))).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


async def test_a_gate_decides_from_its_last_gallery_while_the_controller_is_away(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore, tmp_path: Path) -> None:
    access = PostgresAccessStore(hall_store.pool)
    await access.upsert_person(Person("s-obama", "奥巴马", Role.STUDENT, ("dorm-b3",)), "test")
    await access.upsert_person(Person("s-biden", "拜登", Role.STUDENT, ("dorm-b5",)), "test")
    await access.add_rule("dorm-b3", "gate-b3-*", "always", "test")
    from devices.vision.faces import enrolment_embedding
    for person, photo in (("s-obama", "obama.jpg"), ("s-biden", "biden.jpg")):
        embedding = await asyncio.to_thread(enrolment_embedding, photo_bytes(photo))
        await access.add_faces(person, [embedding.astype("<f4").tobytes()], "test", 10)

    gate_id = f"gate-b3-{uuid.uuid4().hex[:6]}"
    camera = HeldUpFrames()
    driver = FaceGateDriver(GateSettings(source="test", state_dir=tmp_path / "gate-state",
                                         match=MatchPolicy(frames=K), cooldown_s=0.5,
                                         idle_sleep_s=0.02),
                            frames=camera)
    settings = dataclasses.replace(settings_for(broker_url, topic_prefix, gate_id, tmp_path),
                                   kind=DeviceKind.FACE_GATE)
    client_id = f"ctl-{uuid.uuid4().hex[:8]}"

    # The controller first (a gate that starts alone retries its sync every few seconds).
    first = running_controller(broker_url, topic_prefix, hall_store, access=access,
                               client_id=client_id, keep_session=True)
    await first.__aenter__()
    controller_up = True
    try:
        async with running(settings, driver):
            async def synced() -> bool:
                return driver.gallery is not None and len(driver.gallery) == 1
            await eventually(synced, timeout_s=15, what="gate synced its gallery")
            assert driver.gallery is not None and driver.gallery.person_ids == ("s-obama",)

            camera.show("obama2.jpg")

            async def first_decision() -> bool:
                return len(await decisions(hall_store, gate_id)) == 1
            await eventually(first_decision, timeout_s=20, what="the first decision stored")

            await first.__aexit__(None, None, None)
            controller_up = False
            # The controller is gone. The gate still decides: Obama in, Biden (not allowed
            # at this gate, so not in its gallery) refused as an unknown face.
            await asyncio.sleep(0.6)  # past the cooldown
            camera.show("obama3.jpg")
            camera.show("biden.jpg")

            async def decided_offline() -> bool:
                return driver.granted == 2 and driver.denied == 1
            await eventually(decided_offline, timeout_s=30,
                             what="decisions without the controller")
            assert len(await decisions(hall_store, gate_id)) == 1  # the rest wait

            # The controller returns (same persistent session): the events arrive.
            async with running_controller(broker_url, topic_prefix, hall_store, access=access,
                                          client_id=client_id):
                async def all_stored() -> bool:
                    return len(await decisions(hall_store, gate_id)) == 3
                await eventually(all_stored, timeout_s=20, what="offline decisions stored")
    finally:
        if controller_up:
            await first.__aexit__(None, None, None)
    stored = await decisions(hall_store, gate_id)
    assert [(o, p) for o, p, _ in stored] == [
        ("granted", "s-obama"), ("granted", "s-obama"), ("denied", None)]
    assert stored[2][2] == "unknown_face"

    # A restarted gate loads its gallery and policy from disk before any sync.
    again = FaceGateDriver(GateSettings(source="test", state_dir=tmp_path / "gate-state"),
                           frames=HeldUpFrames())
    assert again.gallery is not None and again.gallery.person_ids == ("s-obama",)
    assert again.policy is not None and "s-obama" in again.policy.people
