"""The face gate agent's driver: camera → faces → 1:N match → K-frame vote → rules → open.

Everything is decided here, on the gate's host: the controller only syncs the gallery (the
embeddings of the people allowed at this gate) and the policy (their schedules, holidays, the
door mode) through ``access.sync``. Both are kept on disk, so a gate restarted while the
controller or the broker is away still decides from its last sync; its events wait in the
agent's durable outbox. Images never leave this process; events carry the person id, the
distance and the margin.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devices.access_rules import AccessPolicy, DoorMode
from devices.hardware.settings import LockBoardSettings
from devices.vision.decision import FrameVoter, MatchPolicy, Verdict
from devices.vision.faces import FaceEncoder
from devices.vision.frames import FrameSource, open_source
from devices.vision.gallery import Gallery
from edge.access_sync import AccessKeeper
from edge.driver import DeviceHandle, TelemetryScalar
from edge.errors import CommandRefused, UnknownMethod

logger = logging.getLogger(__name__)

CAMERA_RETRY_MIN_S = 1.0
CAMERA_RETRY_MAX_S = 30.0
SCREEN_MAX_LINES = 4
SCREEN_MAX_CHARS = 40


@dataclass(frozen=True, slots=True)
class GateSettings:
    source: str                        # camera index, rtsp:// URL, video file or image folder
    state_dir: Path                    # where the last gallery and policy are kept
    match: MatchPolicy = field(default_factory=MatchPolicy)
    sync_interval_s: float = 60.0      # poll even without a refresh command (one may be lost)
    sync_retry_s: float = 5.0          # after a failed sync (controller or broker away)
    open_s: float = 3.0                # how long the turnstile stays released
    cooldown_s: float = 3.0            # one decision per person standing in front of the gate
    idle_sleep_s: float = 0.2          # when the source has no frame (end of a file, camera gap)
    loop_source: bool = False
    max_width: int = 640


class FaceGateDriver:
    """A ``DeviceDriver`` for ``EdgeAgent``."""

    def __init__(self, settings: GateSettings, *,
                 turnstile: Turnstile | None = None,
                 encoder: FaceEncoder | None = None,
                 frames: FrameSource | None = None,
                 device_key: bytes | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``turnstile``: the relay that releases the gate (``relay_turnstile`` over an RS-485
        lock board); without one a release is only logged. ``frames``: an already open source
        (tests feed frames one by one); by default ``settings.source`` is opened when the
        driver runs. ``device_key``: the gate's command key, which also verifies the signed
        policy and gallery it syncs (without one: unsigned ones, demo and development only)."""
        self.settings = settings
        self._frames = frames
        self._turnstile = turnstile
        self._encoder = encoder
        self._clock = clock
        self._voter = FrameVoter(settings.match)
        self.access = AccessKeeper(settings.state_dir, with_gallery=True,
                                   sync_interval_s=settings.sync_interval_s,
                                   sync_retry_s=settings.sync_retry_s, key=device_key,
                                   clock=clock)
        # A mode set by command holds until the next synced policy (which carries the mode).
        self._mode_override: DoorMode | None = None
        self.access.on_policy(self._policy_synced)
        self._last_decision: dict[str | None, float] = {}
        self._decision_ms: deque[float] = deque(maxlen=200)
        self.screen: list[str] = []
        self._camera_down_since: float | None = None
        self.frames = 0
        self.faces_seen = 0
        self.granted = 0
        self.denied = 0

    def _policy_synced(self, policy: AccessPolicy) -> None:
        self._mode_override = None  # the synced policy carries the mode now

    @property
    def gallery(self) -> Gallery | None:
        return self.access.gallery

    @property
    def policy(self) -> AccessPolicy | None:
        return self.access.policy

    @property
    def version(self) -> int | None:
        return self.access.version

    # -- the driver protocol ----------------------------------------------------------------------

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        values: dict[str, TelemetryScalar] = {
            "frames": self.frames, "faces_seen": self.faces_seen,
            "granted": self.granted, "denied": self.denied,
            "gallery_people": 0 if self.gallery is None else len(self.gallery),
            "access_version": self.version or 0,
            "sync_failures": self.access.sync_failures,
            "camera_online": self._camera_down_since is None,
        }
        if self._decision_ms:
            values["decision_ms_p50"] = round(statistics.median(self._decision_ms), 1)
        if self.access.last_sync_ok is not None:
            values["sync_age_s"] = round(self._clock() - self.access.last_sync_ok, 1)
        return values

    async def run(self, device: DeviceHandle) -> None:
        if self._turnstile is not None:
            await self._turnstile.attach(device)  # its hardware.fault events go out through us
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.access.keep_synced(device), name="gate-sync")
                tasks.create_task(self._watch(device), name="gate-vision")
        finally:
            if self._turnstile is not None:
                self._turnstile.close()

    async def _release(self, seconds: float) -> None:
        """Open the turnstile. A relay that cannot be reached is reported by its link
        (hardware.fault); the decision event is sent either way."""
        if self._turnstile is None:
            logger.info("gate released for %.1f s (no turnstile relay configured)", seconds)
            return
        try:
            await self._turnstile.release(seconds)
        except Exception as exc:
            logger.error("turnstile release failed: %s", exc)

    async def handle_command(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if method == "access.refresh":
            self.access.refresh()
            return {"syncing": True, "have_version": self.version}
        if method == "gate.show":
            lines = params.get("lines")
            if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
                raise CommandRefused("invalid_params", "params.lines: a list of strings")
            self.screen = [x[:SCREEN_MAX_CHARS] for x in lines[:SCREEN_MAX_LINES]]
            logger.info("gate screen: %s", " / ".join(self.screen))
            return {"shown": len(self.screen)}
        if method == "door.unlock":
            duration = params.get("duration_s", self.settings.open_s)
            if not isinstance(duration, int | float) or not 1 <= duration <= 60:
                raise CommandRefused("invalid_params", "params.duration_s: 1 to 60 seconds")
            await self._release(float(duration))
            return {"unlocked": True, "duration_s": duration}
        if method == "door.set_mode":
            try:
                self._mode_override = DoorMode(str(params.get("mode")))
            except ValueError:
                raise CommandRefused("invalid_params",
                                     f"params.mode: one of {[m.value for m in DoorMode]}") from None
            return {"mode": self._mode_override.value}
        raise UnknownMethod(method)

    # -- vision ---------------------------------------------------------------------------------

    async def _watch(self, device: DeviceHandle) -> None:
        """Frames until cancelled. A camera that cannot be opened or fails while reading is
        reported once (``hardware.fault``, part ``camera``) and reopened with backoff; the gate
        stays online (presence, sync, remote unlock) meanwhile."""
        encoder = self._encoder
        delay = CAMERA_RETRY_MIN_S
        while True:
            try:
                source = await self._open_camera()
            except (OSError, ValueError) as exc:
                await self._camera_fault(device, f"cannot open {self.settings.source!r}: {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, CAMERA_RETRY_MAX_S)
                continue
            await self._camera_back(device)
            delay = CAMERA_RETRY_MIN_S
            if encoder is None:  # loads dlib's models: a second or two, once
                encoder = await asyncio.to_thread(FaceEncoder)
            try:
                while True:
                    verdict = await asyncio.to_thread(self._next_frame, source, encoder)
                    if verdict is None:
                        continue
                    if verdict is _NO_FRAME:
                        await asyncio.sleep(self.settings.idle_sleep_s)
                        continue
                    await self._decide(device, verdict)
            except (OSError, cv2_error()) as exc:
                await self._camera_fault(device, f"reading {self.settings.source!r} failed: {exc}")
            finally:
                source.close()

    async def _open_camera(self) -> FrameSource:
        if self._frames is not None:
            return self._frames
        return await asyncio.to_thread(open_source, self.settings.source,
                                       max_width=self.settings.max_width,
                                       loop=self.settings.loop_source)

    async def _camera_fault(self, device: DeviceHandle, reason: str) -> None:
        if self._camera_down_since is None:
            self._camera_down_since = self._clock()
            logger.error("camera: %s", reason)
            await device.emit_event("hardware.fault", {"part": "camera", "reason": reason[:500]})

    async def _camera_back(self, device: DeviceHandle) -> None:
        if self._camera_down_since is not None:
            outage = self._clock() - self._camera_down_since
            self._camera_down_since = None
            logger.info("camera back after %.1f s", outage)
            await device.emit_event("hardware.recovered", {"part": "camera",
                                                           "outage_s": round(outage, 1)})

    def _next_frame(self, source: FrameSource, encoder: FaceEncoder) -> Verdict | None:
        """In a worker thread: one frame through detection, encoding, match and the vote."""
        frame = source.read()
        if frame is None:
            return _NO_FRAME
        started = time.perf_counter()
        self.frames += 1
        observations = encoder.observe(frame)
        if not observations:
            return None
        self.faces_seen += 1
        gallery = self.gallery
        match = None if gallery is None else gallery.match(observations[0].embedding)
        verdict = self._voter.observe(self._clock(), match)
        self._decision_ms.append((time.perf_counter() - started) * 1000)
        return verdict

    async def _decide(self, device: DeviceHandle, verdict: Verdict) -> None:
        now = self._clock()
        last = self._last_decision.get(verdict.person_id)
        if last is not None and now - last < self.settings.cooldown_s:
            return  # the same person still in front of the camera
        self._last_decision[verdict.person_id] = now
        granted, reason = self._rules(verdict)
        data: dict[str, Any] = {
            "method": "face", "person_id": verdict.person_id, "reason": reason,
            "distance": None if verdict.distance is None else round(verdict.distance, 4),
            "margin": None if verdict.margin is None or verdict.margin == float("inf")
            else round(verdict.margin, 4),
            "frames": verdict.frames, "access_version": self.version,
        }
        if granted:
            self.granted += 1
            await self._release(self.settings.open_s)
            await device.emit_event("access.granted", data)
        else:
            self.denied += 1
            await device.emit_event("access.denied", data)

    def _rules(self, verdict: Verdict) -> tuple[bool, str]:
        """Recognition first, then the synced rules (with any mode set by command since)."""
        if self._mode_override is DoorMode.FREE_PASS:
            return True, "free_pass"
        if self._mode_override is DoorMode.LOCKED_DOWN:
            return False, "locked_down"
        if not verdict.granted or verdict.person_id is None:
            return False, verdict.reason
        if self.policy is None:
            return False, "no_policy"
        decision = self.policy.decide(verdict.person_id, int(time.time() * 1000))
        return decision.granted, decision.reason.value


class Turnstile(Protocol):
    """What releases the gate."""

    async def attach(self, device: DeviceHandle) -> None: ...

    async def release(self, seconds: float) -> None: ...

    def close(self) -> None: ...


class RelayTurnstile:
    """A turnstile wired to relay ``relay`` of an RS-485 (Modbus RTU) lock board; the board
    times the pulse, so a gate host that dies mid-release does not leave the gate open."""

    def __init__(self, settings: LockBoardSettings) -> None:
        from devices.hardware.lock_board import ModbusBus, ModbusLockBoard
        from devices.hardware.relay import EventRelay

        self._events = EventRelay()
        self._bus = ModbusBus(settings, self._events)
        self._board = ModbusLockBoard(self._bus, settings.address)
        self._relay = settings.relay

    async def attach(self, device: DeviceHandle) -> None:
        await self._events.attach(device)

    async def release(self, seconds: float) -> None:
        await self._board.pulse(self._relay, int(seconds * 1000))

    def close(self) -> None:
        self._events.detach()
        self._bus.close()


def cv2_error() -> type[Exception]:
    """OpenCV's own exception class (a camera that fails mid-stream can raise it)."""
    import cv2

    error: type[Exception] = cv2.error
    return error


# A sentinel verdict meaning "the source had no frame" (distinct from "undecided": None).
_NO_FRAME = Verdict(False, None, None, None, 0, "no_frame")
