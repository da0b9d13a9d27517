"""A face gate whose camera is missing keeps running, says so once, and recovers by itself.

The camera is a real image-folder source (OpenCV); the agent side is a small recorder of what
the driver emits (the agent itself is covered by the integration tests)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from devices.access_rules import AccessPolicy, PersonRights
from devices.contract import Response
from devices.hardware.settings import LockBoardSettings
from devices.vision.faces import enrolment_embedding
from devices.vision.gallery import Gallery
from edge import face_gate
from edge.access_sync import GALLERY_FILE, POLICY_FILE
from edge.face_gate import FaceGateDriver, GateSettings, RelayTurnstile
from simulators.emulated import EmulatedLockBus
from tests.support.controller import eventually
from tests.support.faces import photo_bytes, photo_path


class RecordingHandle:
    device_id = "gate-test"

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def emit_event(self, type: str, data: Mapping[str, Any] | None = None) -> str:
        self.events.append((type, dict(data or {})))
        return str(len(self.events))

    async def request(self, method: str, params: Mapping[str, Any] | None = None,
                      timeout_s: float = 10.0) -> Response:
        raise TimeoutError("no controller in this test")


async def test_a_missing_camera_is_reported_once_and_recovered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(face_gate, "CAMERA_RETRY_MIN_S", 0.05)
    monkeypatch.setattr(face_gate, "CAMERA_RETRY_MAX_S", 0.1)
    camera = tmp_path / "camera"
    driver = FaceGateDriver(GateSettings(source=str(camera), state_dir=tmp_path / "state",
                                         idle_sleep_s=0.02, sync_retry_s=0.05))
    handle = RecordingHandle()
    attempts: list[str] = []
    real_open = face_gate.open_source

    def counted_open(source: str, **kwargs: Any) -> Any:
        attempts.append(source)
        return real_open(source, **kwargs)
    monkeypatch.setattr(face_gate, "open_source", counted_open)
    running = asyncio.create_task(driver.run(handle))
    try:
        # Several attempts to open the missing folder, then: one fault for all of them.
        await eventually(lambda: len(attempts) >= 3 and len(handle.events) >= 1,
                         what="three attempts to open the camera")
        faults = [d for t, d in handle.events if t == "hardware.fault"]
        assert len(faults) == 1 and faults[0]["part"] == "camera"
        assert str(camera) in faults[0]["reason"]
        assert driver.read_telemetry()["camera_online"] is False

        camera.mkdir()
        shutil.copy(photo_path("obama.jpg"), camera / "frame-001.jpg")
        async def recovered_reported() -> bool:
            return any(t == "hardware.recovered" for t, _ in handle.events)
        await eventually(recovered_reported, 10, "hardware.recovered")
        recovered = next(d for t, d in handle.events if t == "hardware.recovered")
        assert recovered["part"] == "camera" and recovered["outage_s"] > 0
        assert driver.read_telemetry()["camera_online"] is True
        async def reading() -> bool:
            return driver.frames > 0
        await eventually(reading, 20, "frames read again")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_recognised_face_pulses_the_turnstile_relay_from_the_last_sync_on_disk(
        tmp_path: Path) -> None:
    """No controller at all: the gate starts from the policy and gallery a previous sync left
    on disk, recognises Obama over K frames and pulses relay 2 of the emulated RS-485 board;
    an unknown face (Biden is not in this gate's gallery) does not."""
    state = tmp_path / "state"
    embedding = enrolment_embedding(photo_bytes("obama.jpg"))
    Gallery.build(7, {"s-obama": [embedding]}).save(state / GALLERY_FILE)
    policy = AccessPolicy(version=7, people={"s-obama": PersonRights("s-obama", ("always",))})
    (state / POLICY_FILE).write_text(json.dumps(policy.to_wire()), encoding="utf-8")

    camera = tmp_path / "camera"
    camera.mkdir()
    for n in range(3):
        shutil.copy(photo_path("obama2.jpg"), camera / f"a-{n}.jpg")
    for n in range(3):
        shutil.copy(photo_path("biden.jpg"), camera / f"b-{n}.jpg")
    async with EmulatedLockBus(tmp_path / "rs485", addresses=(1,)) as bus:
        turnstile = RelayTurnstile(LockBoardSettings(port=str(tmp_path / "rs485"), address=1,
                                                     relay=2, timeout_s=0.3))
        driver = FaceGateDriver(GateSettings(source=str(camera), state_dir=state,
                                             idle_sleep_s=0.05, sync_retry_s=5.0),
                                turnstile=turnstile)
        handle = RecordingHandle()
        running = asyncio.create_task(driver.run(handle))
        try:
            async def both_decided() -> bool:
                return driver.granted + driver.denied == 2
            await eventually(both_decided, 60, "two decisions")
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    decisions = [(t, d["person_id"], d["reason"]) for t, d in handle.events
                 if t.startswith("access.")]
    assert decisions == [("access.granted", "s-obama", "allowed"),
                         ("access.denied", None, "unknown_face")]
    assert [relay for relay, _ in bus.boards[1].pulses] == [2]
