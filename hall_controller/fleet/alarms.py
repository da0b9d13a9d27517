"""Alarm use cases: raise and clear on behalf of the system, acknowledge and clear on behalf
of staff; listeners hear every change."""

from __future__ import annotations

import logging
from collections.abc import Callable

from devices.contract import now_ms
from devices.kinds import DeviceKind
from hall_controller.fleet.model import Alarm, AlarmSeverity
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


class AlarmService:
    def __init__(self, store: AlarmStore) -> None:
        self._store = store
        self._listeners: list[AlarmListener] = []

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

    async def clear(self, device_id: str, type: str, by: str = SYSTEM) -> Alarm | None:
        alarm = await self._store.clear_alarm_by_type(device_id, type, now_ms(), by)
        if alarm is not None:
            logger.info("alarm cleared: %s on %s", type, device_id,
                        extra={"device_id": device_id, "alarm_type": type})
            self._notify(alarm)
        return alarm

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

    async def device_offline(self, device_id: str, kind: DeviceKind, reason: str) -> Alarm:
        return await self.raise_alarm(device_id, DEVICE_OFFLINE, OFFLINE_SEVERITY[kind],
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
