"""Clearing an alarm by hand, as staff do on the facilities pages: refused while its cause is
still there, and only with a note when the alarm is critical (``rules.py``)."""

from __future__ import annotations

from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.model import Alarm, AlarmStatus
from hall_controller.fleet.ports import AlarmRecords
from hall_controller.fleet.rules import condition_still_holds, note_required_to_clear
from hall_controller.kernel.errors import ConditionStillHolds, NoteRequired, NotFound


class StaffAlarmClearing:
    def __init__(self, alarms: AlarmService, store: AlarmRecords) -> None:
        self._alarms = alarms
        self._store = store

    async def clear(self, alarm_id: int, by: str, note: str | None) -> Alarm:
        """Clear the alarm on behalf of ``by``. Raises NotFound, NoteRequired (a critical
        alarm and no note) or ConditionStillHolds. A cleared alarm is returned unchanged."""
        alarm = await self._store.get_alarm(alarm_id)
        if alarm is None:
            raise NotFound(f"alarm {alarm_id} does not exist")
        if alarm.status is AlarmStatus.CLEARED:
            return alarm
        note = (note or "").strip() or None
        if note is None and note_required_to_clear(alarm):
            raise NoteRequired(f"{alarm.type} on {alarm.device_id} is critical: say in 'note' "
                               "what was found before clearing it")
        # Presence as stored (what every controller of a scaled-out hall agrees on).
        device = await self._store.get_device(alarm.device_id)
        latest = await self._store.latest_values([alarm.device_id])
        holds = condition_still_holds(
            alarm, device_known=device is not None,
            device_online=device is not None and device.online,
            latest={v.metric: v.value for v in latest.get(alarm.device_id, [])})
        if holds is not None:
            raise ConditionStillHolds(
                f"{alarm.type} on {alarm.device_id} still holds ({holds.reason}); it clears "
                "by itself when the device reports it fixed", reason=holds.reason)
        return await self._alarms.clear_by_hand(alarm_id, by, note)
