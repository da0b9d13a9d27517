"""Alarm use cases: raise and clear on behalf of the system, acknowledge and clear on behalf
of staff; listeners hear every change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from devices.contract import now_ms
from devices.kinds import DeviceKind
from hall_controller.fleet.model import Alarm, AlarmSeverity, AlarmStatus
from hall_controller.fleet.ports import AlarmStore

logger = logging.getLogger(__name__)

DEVICE_OFFLINE = "device.offline"
DEVICE_KIND_MISMATCH = "device.kind_mismatch"
SYSTEM = "system"

# A lock that drops off the network can no longer be unlocked remotely or report forced doors:
# that is worse than a silent queue display.
OFFLINE_SEVERITY: dict[DeviceKind, AlarmSeverity] = {
    DeviceKind.DOOR_LOCK: AlarmSeverity.CRITICAL,
    DeviceKind.FACE_GATE: AlarmSeverity.MAJOR,
    DeviceKind.KIOSK: AlarmSeverity.MAJOR,
    DeviceKind.QUEUE_DISPLAY: AlarmSeverity.MINOR,
}

AlarmListener = Callable[[Alarm], None]


@dataclass(frozen=True, slots=True)
class Tuned:
    """How a built-in alarm is raised once staff tuned it (``alarm_rules/builtin.py``)."""

    severity: AlarmSeverity
    delay_s: float = 0.0  # raise only if nothing cleared it within this time


class AlarmTuning(Protocol):
    def tune(self, device_id: str, type: str, severity: AlarmSeverity) -> Tuned | None:
        """How to raise the built-in alarm ``type`` (default ``severity``) on the device, or
        None when staff turned it off."""
        ...


class Untuned:
    """The code's own severities, no delay: what a hall without alarm rules does."""

    def tune(self, device_id: str, type: str, severity: AlarmSeverity) -> Tuned | None:
        return Tuned(severity)


class AlarmService:
    def __init__(self, store: AlarmStore) -> None:
        self._store = store
        self._listeners: list[AlarmListener] = []
        # Staff's changes to the built-in alarms; the alarm rules feature installs its own.
        self.tuning: AlarmTuning = Untuned()
        # Built-in alarms held back by a tuned delay: (device, type) → (due, severity,
        # details). One per pair, so it is bounded by devices × alarm types; a clear drops it.
        self._deferred: dict[tuple[str, str], tuple[int, AlarmSeverity, dict[str, object]]] = {}

    def subscribe(self, listener: AlarmListener) -> None:
        """Hear every raised or cleared alarm (live feeds use this)."""
        self._listeners.append(listener)

    def _notify(self, alarm: Alarm) -> None:
        for listener in self._listeners:
            try:
                listener(alarm)
            except Exception:
                logger.exception("alarm listener failed")

    async def raise_alarm(self, device_id: str, type: str, severity: AlarmSeverity,
                          details: dict[str, object] | None = None) -> Alarm:
        alarm, created = await self._store.raise_alarm(device_id, type, severity, details or {},
                                                       now_ms())
        if created:
            logger.warning("alarm raised: %s on %s (%s)", type, device_id, severity.value,
                           extra={"device_id": device_id, "alarm_type": type})
        self._notify(alarm)
        return alarm

    async def raise_builtin(self, device_id: str, type: str, severity: AlarmSeverity,
                            details: dict[str, object] | None = None) -> Alarm | None:
        """Raise one of the alarms shipped in code, as staff tuned it: maybe with another
        severity, maybe later (``raise_due``), maybe not at all (None)."""
        tuned = self.tuning.tune(device_id, type, severity)
        if tuned is None:
            logger.info("alarm %s on %s not raised: turned off by staff", type, device_id,
                        extra={"device_id": device_id, "alarm_type": type})
            return None
        if tuned.delay_s > 0:
            due = now_ms() + int(tuned.delay_s * 1000)
            self._deferred.setdefault((device_id, type), (due, tuned.severity, details or {}))
            return None
        return await self.raise_alarm(device_id, type, tuned.severity, details)

    async def raise_due(self, at_ms: int | None = None) -> list[Alarm]:
        """Raise the delayed built-in alarms whose delay has passed with nothing clearing
        them (the alarm rules feature calls this on its timer)."""
        at_ms = now_ms() if at_ms is None else at_ms
        due = [key for key, (when, _, _) in self._deferred.items() if when <= at_ms]
        raised = []
        for key in due:
            _, severity, details = self._deferred.pop(key)
            raised.append(await self.raise_alarm(key[0], key[1], severity,
                                                 {**details, "delayed": True}))
        return raised

    async def clear(self, device_id: str, type: str, by: str = SYSTEM) -> Alarm | None:
        self._deferred.pop((device_id, type), None)
        alarm = await self._store.clear_alarm_by_type(device_id, type, now_ms(), by)
        if alarm is not None:
            logger.info("alarm cleared: %s on %s", type, device_id,
                        extra={"device_id": device_id, "alarm_type": type})
            self._notify(alarm)
        return alarm

    async def active(self, type_prefix: str = "", limit: int = 10_000) -> list[Alarm]:
        """The active alarms whose type starts with ``type_prefix``, newest first."""
        alarms = await self._store.list_alarms(status=AlarmStatus.ACTIVE, limit=limit)
        return [a for a in alarms if a.type.startswith(type_prefix)]

    async def acknowledge(self, alarm_id: int, by: str) -> Alarm:
        """Staff saw it (it stays active until cleared); raises NotFound. Twice is harmless."""
        alarm = await self._store.ack_alarm(alarm_id, now_ms(), by)
        self._notify(alarm)
        return alarm

    async def clear_by_hand(self, alarm_id: int, by: str, note: str | None = None) -> Alarm:
        """Staff cleared it (e.g. after fixing the device), saying why in ``note``; raises
        NotFound. Twice is harmless. ``StaffAlarmClearing`` checks the rules first."""
        alarm = await self._store.clear_alarm(alarm_id, now_ms(), by, note)
        self._notify(alarm)
        return alarm

    async def device_offline(self, device_id: str, kind: DeviceKind, reason: str
                             ) -> Alarm | None:
        return await self.raise_builtin(device_id, DEVICE_OFFLINE, OFFLINE_SEVERITY[kind],
                                      {"reason": reason})

    async def device_kind_mismatch(self, device_id: str, recorded: DeviceKind,
                                   claimed: DeviceKind) -> Alarm:
        """A birth claimed another kind than the recorded one: a swapped device or an
        impersonation. Stays until staff clear it; repeats count up."""
        return await self.raise_alarm(device_id, DEVICE_KIND_MISMATCH, AlarmSeverity.CRITICAL,
                                      {"recorded_kind": recorded.value,
                                       "claimed_kind": claimed.value})

    async def device_online(self, device_id: str) -> None:
        await self.clear(device_id, DEVICE_OFFLINE)
