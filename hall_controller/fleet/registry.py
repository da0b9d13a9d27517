"""Device registry and presence: the in-memory view of every device, persisted through the
store, with presence transitions turned into alarms.

One controller process owns presence decisions for the devices it hears from; the database
holds the same records so the API (and a restarted controller) sees them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from devices.contract import Birth, Will, now_ms
from devices.kinds import DeviceKind
from hall_controller.fleet import presence
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.model import DeviceRecord
from hall_controller.fleet.ports import DeviceStore
from hall_controller.fleet.presence import Change, Outcome

logger = logging.getLogger(__name__)

PresenceListener = Callable[[DeviceRecord, Change], None]
# The model a browser kiosk is listed with: it has no birth to say one.
BROWSER_KIOSK_MODEL = "browser"


class DeviceRegistry:
    def __init__(self, store: DeviceStore, alarms: AlarmService,
                 inactivity_timeout_s: dict[DeviceKind, float], *, shared: bool = False) -> None:
        """``shared``: other controllers hear part of the devices' traffic (MQTT shared
        subscriptions), so the database is re-read before each timeout check."""
        self._store = store
        self._shared = shared
        self._alarms = alarms
        self._timeouts = inactivity_timeout_s
        self._devices: dict[str, DeviceRecord] = {}
        self._listeners: list[PresenceListener] = []
        self._started_ms = now_ms()
        self._browser_written: dict[str, int] = {}

    async def load(self) -> None:
        """Start from what the database knows (presence included: a restart is not an outage)."""
        self._started_ms = now_ms()
        self._devices = {d.device_id: d for d in await self._store.load_devices()}
        logger.info("registry loaded %d devices", len(self._devices))

    def subscribe(self, listener: PresenceListener) -> None:
        self._listeners.append(listener)

    def get(self, device_id: str) -> DeviceRecord | None:
        return self._devices.get(device_id)

    def all(self) -> list[DeviceRecord]:
        return list(self._devices.values())

    # -- transitions from messages; the caller persists ``outcome.record`` in its batch -----

    def on_birth(self, device_id: str, birth: Birth, at_ms: int, *,
                 provisioned_kind: DeviceKind | None = None) -> Outcome:
        """``provisioned_kind``: the kind an admin fixed, which the birth must claim."""
        outcome = presence.apply_birth(self._devices.get(device_id), device_id, birth, at_ms,
                                       provisioned_kind=provisioned_kind)
        if outcome.change is not Change.KIND_MISMATCH:  # a refused birth changes nothing
            self._devices[device_id] = outcome.record
        return outcome

    def on_will(self, device_id: str, will: Will, at_ms: int) -> Outcome | None:
        outcome = presence.apply_will(self._devices.get(device_id), will, at_ms)
        if outcome is not None:
            self._devices[device_id] = outcome.record
        return outcome

    def on_activity(self, device_id: str, at_ms: int) -> Outcome | None:
        """None for a device that never sent a birth (its data is kept, it is not listed)."""
        record = self._devices.get(device_id)
        if record is None:
            return None
        outcome = presence.apply_activity(record, at_ms)
        self._devices[device_id] = outcome.record
        return outcome

    # -- devices that speak HTTP, not MQTT -----------------------------------------------------

    def holds_other_device(self, device_id: str) -> bool:
        """Whether ``device_id`` belongs to a device that is not a browser kiosk (an MQTT
        device): a browser kiosk must not take its id."""
        record = self._devices.get(device_id)
        return record is not None and record.model != BROWSER_KIOSK_MODEL

    async def browser_kiosk_seen(self, device_id: str, site: str, at_ms: int) -> None:
        """A browser kiosk made a request with its key: it is listed as a kiosk, online, and
        goes offline (alarm ``device.offline``) after the kiosk timeout without one. The kiosk
        page checks in every 30 s, so silence means its screen or network is gone. The record
        is written when it is new or changes presence, and at most once a minute otherwise."""
        record = self._devices.get(device_id)
        if record is not None and record.model != BROWSER_KIOSK_MODEL:
            return  # an MQTT device's id: its presence is its own (holds_other_device)
        if record is None:
            record = DeviceRecord(device_id=device_id, kind=DeviceKind.KIOSK,
                                  model=BROWSER_KIOSK_MODEL, site=site, online=True,
                                  first_seen_ms=at_ms, last_seen_ms=at_ms, online_since_ms=at_ms)
            outcome = Outcome(record, Change.WENT_ONLINE, registered=True)
        else:
            outcome = presence.apply_activity(record, at_ms)
            if not record.online and outcome.change is Change.NONE:
                # Offline for another reason than a timeout (a controller shutdown): back now.
                outcome = Outcome(dataclasses.replace(outcome.record, online=True,
                                                      online_since_ms=at_ms,
                                                      offline_reason=None), Change.WENT_ONLINE)
            if site and outcome.record.site != site:
                outcome = Outcome(dataclasses.replace(outcome.record, site=site), outcome.change)
        self._devices[device_id] = outcome.record
        written = self._browser_written.get(device_id, 0)
        if outcome.change is Change.NONE and at_ms - written < 60_000:
            return
        self._browser_written[device_id] = at_ms
        await self._store.upsert_devices([outcome.record])
        await self.announce(outcome)

    # -- effects after the batch is committed --------------------------------------------------

    async def announce(self, outcome: Outcome) -> None:
        """Turn a committed presence change into alarms and notify listeners."""
        record = outcome.record
        if outcome.registered:
            logger.info("device registered: %s (%s %s fw %s)", record.device_id, record.kind,
                        record.model, record.fw, extra={"device_id": record.device_id})
        if outcome.change is Change.WENT_ONLINE:
            logger.info("device online: %s session %d", record.device_id, record.session,
                        extra={"device_id": record.device_id})
            await self._alarms.device_online(record.device_id)
        elif outcome.change is Change.WENT_OFFLINE:
            logger.warning("device offline: %s (%s)", record.device_id, record.offline_reason,
                           extra={"device_id": record.device_id})
            await self._alarms.device_offline(record.device_id, record.kind,
                                              record.offline_reason or "unknown")
        elif outcome.change is Change.KIND_MISMATCH and outcome.claimed_kind is not None:
            logger.warning("birth of %s as %s refused: it is recorded as %s", record.device_id,
                           outcome.claimed_kind, record.kind, extra={"device_id": record.device_id})
            await self._alarms.device_kind_mismatch(record.device_id, record.kind,
                                                    outcome.claimed_kind)
        elif outcome.change is Change.IGNORED_STALE:
            logger.info("stale state for %s ignored (session %d is current)", record.device_id,
                        record.session, extra={"device_id": record.device_id})
        if outcome.change in (Change.WENT_ONLINE, Change.WENT_OFFLINE):
            for listener in self._listeners:
                try:
                    listener(record, outcome.change)
                except Exception:
                    logger.exception("presence listener failed")

    # -- the inactivity watchdog ---------------------------------------------------------------

    async def refresh(self) -> None:
        """Adopt what other controllers recorded about devices.

        With shared subscriptions each controller hears only part of every device's messages:
        without this, one would time out a device whose recent telemetry went to another, and
        would not know (nor command, nor announce on) devices whose birth went elsewhere. The
        database holds everyone's last word; a stored record newer than ours wins.
        """
        for stored in await self._store.load_devices():
            local = self._devices.get(stored.device_id)
            if local is None or stored.last_seen_ms > local.last_seen_ms:
                self._devices[stored.device_id] = stored

    async def check_timeouts(self, at_ms: int | None = None) -> list[DeviceRecord]:
        """Mark devices offline that have been silent past their kind's timeout."""
        if self._shared:  # alone, this process's records are already the newest there are
            await self.refresh()
        at_ms = now_ms() if at_ms is None else at_ms
        outcomes = []
        for record in list(self._devices.values()):
            # While this controller was down nobody heard anyone: a device gets a full timeout
            # counted from our start, or every device would flap offline and back while the
            # broker hands over the backlog.
            heard = record if record.last_seen_ms >= self._started_ms else dataclasses.replace(
                record, last_seen_ms=self._started_ms)
            outcome = presence.apply_timeout(heard, at_ms, self._timeouts[record.kind])
            if outcome.change is Change.WENT_OFFLINE:
                outcome = Outcome(dataclasses.replace(outcome.record, last_seen_ms=record.last_seen_ms),
                                  outcome.change)
                self._devices[record.device_id] = outcome.record
                outcomes.append(outcome)
        if outcomes:
            await self._store.upsert_devices([o.record for o in outcomes])
            for outcome in outcomes:
                await self.announce(outcome)
        return [o.record for o in outcomes]

    async def watch_timeouts(self, interval_s: float) -> None:
        """Run ``check_timeouts`` forever (a task owned by the controller)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.check_timeouts()
            except Exception:
                logger.exception("presence check failed; will retry")
