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
import contextlib
import json
import logging
import os
import statistics
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.access_rules import AccessPolicy, DoorMode
from devices.vision.decision import FrameVoter, MatchPolicy, Verdict
from devices.vision.faces import FaceEncoder
from devices.vision.frames import FrameSource, open_source
from devices.vision.gallery import Gallery
from edge.driver import DeviceHandle, TelemetryScalar
from edge.errors import CommandRefused, UnknownMethod

logger = logging.getLogger(__name__)

GALLERY_FILE = "gallery.json"
POLICY_FILE = "policy.json"
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
    """A ``DeviceDriver`` for ``EdgeAgent``. ``open_gate`` drives the turnstile's relay (a
    serial relay board or the gate controller's input); by default it only logs."""

    def __init__(self, settings: GateSettings, *,
                 open_gate: Callable[[float], None] | None = None,
                 encoder: FaceEncoder | None = None,
                 frames: FrameSource | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``frames``: an already open source (tests feed frames one by one); by default
        ``settings.source`` is opened when the driver runs."""
        self.settings = settings
        self._frames = frames
        self._open_gate = open_gate or (lambda s: logger.info("gate released for %.1f s", s))
        self._encoder = encoder
        self._clock = clock
        self._voter = FrameVoter(settings.match)
        self.gallery: Gallery | None = None
        self.policy: AccessPolicy | None = None
        self._mode_override: DoorMode | None = None
        self._sync_now = asyncio.Event()
        self._last_decision: dict[str | None, float] = {}
        self._decision_ms: deque[float] = deque(maxlen=200)
        self.screen: list[str] = []
        self.last_sync_ok: float | None = None
        self.frames = 0
        self.faces_seen = 0
        self.granted = 0
        self.denied = 0
        self.sync_failures = 0
        self._load_state()

    # -- state kept on disk ---------------------------------------------------------------------

    def _load_state(self) -> None:
        """The last synced gallery and policy; a corrupt file is reported and ignored (the gate
        then denies everyone until it syncs: fail closed for entry)."""
        try:
            self.gallery = Gallery.load(self.settings.state_dir / GALLERY_FILE)
        except ValueError as exc:
            logger.error("stored gallery unreadable (%s); waiting for a sync", exc)
        path = self.settings.state_dir / POLICY_FILE
        if path.is_file():
            try:
                self.policy = AccessPolicy.from_wire(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, OSError) as exc:
                logger.error("stored policy unreadable (%s); waiting for a sync", exc)

    def _save_policy(self, wire: dict[str, Any]) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.settings.state_dir / POLICY_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(wire, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    @property
    def version(self) -> int | None:
        return None if self.policy is None else self.policy.version

    # -- the driver protocol ----------------------------------------------------------------------

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        values: dict[str, TelemetryScalar] = {
            "frames": self.frames, "faces_seen": self.faces_seen,
            "granted": self.granted, "denied": self.denied,
            "gallery_people": 0 if self.gallery is None else len(self.gallery),
            "access_version": self.version or 0,
            "sync_failures": self.sync_failures,
        }
        if self._decision_ms:
            values["decision_ms_p50"] = round(statistics.median(self._decision_ms), 1)
        if self.last_sync_ok is not None:
            values["sync_age_s"] = round(self._clock() - self.last_sync_ok, 1)
        return values

    async def run(self, device: DeviceHandle) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._keep_synced(device), name="gate-sync")
            tasks.create_task(self._watch(device), name="gate-vision")

    async def handle_command(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if method == "access.refresh":
            self._sync_now.set()
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
            self._open_gate(float(duration))
            return {"unlocked": True, "duration_s": duration}
        if method == "door.set_mode":
            try:
                self._mode_override = DoorMode(str(params.get("mode")))
            except ValueError:
                raise CommandRefused("invalid_params",
                                     f"params.mode: one of {[m.value for m in DoorMode]}") from None
            return {"mode": self._mode_override.value}
        raise UnknownMethod(method)

    # -- sync -----------------------------------------------------------------------------------

    async def _keep_synced(self, device: DeviceHandle) -> None:
        while True:
            ok = await self.sync_once(device)
            wait_s = self.settings.sync_interval_s if ok else self.settings.sync_retry_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._sync_now.wait()
            self._sync_now.clear()

    async def sync_once(self, device: DeviceHandle) -> bool:
        """Ask for what changed since our version; keep what we have on any failure."""
        try:
            response = await device.request("access.sync", {"have_version": self.version},
                                            timeout_s=10.0)
        except (TimeoutError, ConnectionError, OSError) as exc:
            self.sync_failures += 1
            logger.warning("access sync failed (%s); deciding from version %s", exc, self.version)
            return False
        if not response.ok or response.result is None:
            self.sync_failures += 1
            logger.warning("access sync refused: %s", response.error)
            return False
        result = response.result
        if result.get("changed"):
            try:
                policy = AccessPolicy.from_wire(result.get("policy"))
                gallery = Gallery.from_wire(result.get("gallery"))
            except ValueError as exc:
                self.sync_failures += 1
                logger.error("access sync result refused (%s); keeping version %s", exc,
                             self.version)
                return False
            # Gallery first: a crash between the two writes leaves an older policy, which the
            # next sync (with the older version) replaces.
            await asyncio.to_thread(gallery.save, self.settings.state_dir / GALLERY_FILE)
            await asyncio.to_thread(self._save_policy, policy.to_wire())
            self.gallery, self.policy = gallery, policy
            self._mode_override = None  # the synced policy carries the mode
            logger.info("access synced: version %d, %d people", policy.version, len(gallery))
        self.last_sync_ok = self._clock()
        return True

    # -- vision ---------------------------------------------------------------------------------

    async def _watch(self, device: DeviceHandle) -> None:
        source: FrameSource = self._frames if self._frames is not None else await asyncio.to_thread(
            open_source, self.settings.source, max_width=self.settings.max_width,
            loop=self.settings.loop_source)
        encoder = self._encoder or FaceEncoder()
        try:
            while True:
                verdict = await asyncio.to_thread(self._next_frame, source, encoder)
                if verdict is None:
                    continue
                if verdict is _NO_FRAME:
                    await asyncio.sleep(self.settings.idle_sleep_s)
                    continue
                await self._decide(device, verdict)
        finally:
            source.close()

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
            self._open_gate(self.settings.open_s)
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


# A sentinel verdict meaning "the source had no frame" (distinct from "undecided": None).
_NO_FRAME = Verdict(False, None, None, None, 0, "no_frame")
