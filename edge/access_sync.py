"""What a gate or lock decides from: the policy (and, for a gate, the face gallery) synced from
the controller with ``access.sync`` and kept on disk.

Synced at start, every ``sync_interval_s``, every ``sync_retry_s`` after a failure, and at once
on ``refresh()`` (the ``access.refresh`` command). A device restarted while the controller or
the broker is away loads the last sync from disk and keeps deciding; with nothing synced yet it
denies everyone by credential (fail closed for entry; egress never depends on this).

Nothing is applied before it is verified (``devices.policy_signing``): with ``key`` (the
device's command key) only a reply the controller signed for this device, not expired and not
older than the held version, is applied; anything else is refused, the held policy stays, and
the refusal is reported as an ``access.policy_refused`` event. Without a key (demo and
development, a controller without a secret) an unsigned reply is applied, with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devices.access_rules import AccessPolicy
from devices.cancellation import raise_if_cancelled
from devices.contract import now_ms
from devices.policy_signing import PolicyRefused, verify_policy_reply
from devices.vision.gallery import Gallery
from edge.driver import DeviceHandle
from edge.errors import OutboxError

logger = logging.getLogger(__name__)

GALLERY_FILE = "gallery.json"
POLICY_FILE = "policy.json"
POLICY_REFUSED_EVENT = "access.policy_refused"
REFUSAL_REPORT_INTERVAL_S = 300.0
"""The same refusal (code and offered version) is reported again only after this long, so a
device retrying every few seconds does not flood the controller with one story."""

PolicyListener = Callable[[AccessPolicy], None]


class AccessKeeper:
    def __init__(self, state_dir: Path, *, with_gallery: bool, sync_interval_s: float = 60.0,
                 sync_retry_s: float = 5.0, request_timeout_s: float = 10.0,
                 key: bytes | None = None, clock: Callable[[], float] = time.monotonic,
                 wall_clock_ms: Callable[[], int] = now_ms) -> None:
        """``key``: this device's command key (the controller signs its policy with the same
        key); without one, unsigned policies are applied (demo and development only)."""
        self.state_dir = state_dir
        self.with_gallery = with_gallery
        self.sync_interval_s = sync_interval_s
        self.sync_retry_s = sync_retry_s
        self.request_timeout_s = request_timeout_s
        self._key = key
        self._clock = clock
        self._wall_clock_ms = wall_clock_ms
        self.policy: AccessPolicy | None = None
        self.gallery: Gallery | None = None
        self.last_sync_ok: float | None = None
        self.sync_failures = 0
        self.refusals = 0
        self._last_report: tuple[str, object, float] | None = None
        self._warned_unverified = False
        self._refresh = asyncio.Event()
        self._listeners: list[PolicyListener] = []
        self._load()

    @property
    def version(self) -> int | None:
        return None if self.policy is None else self.policy.version

    def on_policy(self, listener: PolicyListener) -> None:
        """Hear every newly synced policy (a lock applies its door mode from it)."""
        self._listeners.append(listener)

    def refresh(self) -> None:
        self._refresh.set()

    def authorize_card(self, card: str, now_ms: int) -> tuple[bool, str | None, str]:
        """A campus card at this device: (granted, person id, reason)."""
        if self.policy is None:
            return False, None, "no_policy"
        person_id = self.policy.person_for_card(card)
        if person_id is None:
            return False, None, "unknown_credential"
        decision = self.policy.decide(person_id, now_ms)
        return decision.granted, person_id, decision.reason.value

    # -- sync -----------------------------------------------------------------------------------

    async def keep_synced(self, device: DeviceHandle) -> None:
        while True:
            raise_if_cancelled()
            ok = await self.sync_once(device)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.sync_interval_s if ok else self.sync_retry_s):
                    await self._refresh.wait()
            self._refresh.clear()

    async def sync_once(self, device: DeviceHandle) -> bool:
        """Ask for what changed since our version; keep what we have on any failure."""
        try:
            response = await device.request("access.sync", {"have_version": self.version},
                                            timeout_s=self.request_timeout_s)
        except (TimeoutError, ConnectionError, OSError) as exc:
            self.sync_failures += 1
            logger.warning("access sync failed (%s); deciding from version %s", exc, self.version)
            return False
        if not response.ok or response.result is None:
            self.sync_failures += 1
            logger.warning("access sync refused: %s", response.error)
            return False
        result = response.result
        try:
            # In a thread: a large gallery takes a few hundred ms to digest.
            checked = await asyncio.to_thread(
                verify_policy_reply, result, device_id=device.device_id, key=self._key,
                held_version=self.version, now_ms=self._wall_clock_ms())
        except PolicyRefused as refused:
            await self._refused(device, refused, result.get("version"))
            return False
        if not checked.signed and not self._warned_unverified:
            self._warned_unverified = True
            logger.warning("access policy applied WITHOUT verification: this device has no key "
                           "and the controller signs nothing (demo/development only)")
        if checked.news and result.get("changed"):
            try:
                policy = AccessPolicy.from_wire(result.get("policy"))
                gallery = Gallery.from_wire(result.get("gallery")) if self.with_gallery else None
            except ValueError as exc:
                self.sync_failures += 1
                logger.error("access sync result refused (%s); keeping version %s", exc,
                             self.version)
                return False
            # Gallery first: a crash between the two writes leaves an older policy version,
            # so the next sync asks again and replaces both.
            if gallery is not None:
                await asyncio.to_thread(gallery.save, self.state_dir / GALLERY_FILE)
            await asyncio.to_thread(self._save_policy, policy.to_wire())
            self.policy, self.gallery = policy, gallery
            logger.info("access synced: version %d, %d people", policy.version,
                        len(policy.people))
            for listener in self._listeners:
                listener(policy)
        self.last_sync_ok = self._clock()
        return True

    async def _refused(self, device: DeviceHandle, refused: PolicyRefused,
                       offered: object) -> None:
        """Keep what we hold, and tell the controller (once per distinct refusal a while)."""
        self.sync_failures += 1
        self.refusals += 1
        logger.error("access sync reply refused (%s); keeping version %s", refused, self.version)
        now = self._clock()
        last = self._last_report
        if last is not None and last[:2] == (refused.code, offered) \
                and now - last[2] < REFUSAL_REPORT_INTERVAL_S:
            return
        try:
            await device.emit_event(POLICY_REFUSED_EVENT, {
                "reason": refused.code, "message": refused.message[:200],
                "offered_version": offered if isinstance(offered, int) else None,
                "held_version": self.version})
        except OutboxError:
            logger.exception("the policy refusal could not be queued for the controller")
            return
        self._last_report = (refused.code, offered, now)

    # -- on disk --------------------------------------------------------------------------------

    def _load(self) -> None:
        """A corrupt file is reported and ignored (decide nothing by credential until a sync)."""
        if self.with_gallery:
            try:
                self.gallery = Gallery.load(self.state_dir / GALLERY_FILE)
            except ValueError as exc:
                logger.error("stored gallery unreadable (%s); waiting for a sync", exc)
        path = self.state_dir / POLICY_FILE
        if path.is_file():
            try:
                self.policy = AccessPolicy.from_wire(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, OSError) as exc:
                logger.error("stored policy unreadable (%s); waiting for a sync", exc)

    def _save_policy(self, wire: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / POLICY_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(wire, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
