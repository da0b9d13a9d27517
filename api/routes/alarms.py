"""Alarms: list, look at, acknowledge, clear."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import Facilities, Staff
from api.params import Limit, RowId
from api.schemas import AlarmClearIn, AlarmOut, ErrorOut
from api.services import provide
from hall_controller.fleet.alarm_clearing import StaffAlarmClearing
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.model import AlarmStatus
from hall_controller.fleet.views import FleetViews

Fleet = Annotated[FleetViews, Depends(provide(FleetViews))]
Alarms = Annotated[AlarmService, Depends(provide(AlarmService))]
Clearing = Annotated[StaffAlarmClearing, Depends(provide(StaffAlarmClearing))]
router = APIRouter(prefix="/alarms", tags=["alarms"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown alarm"},
}


@router.get("", response_model=list[AlarmOut])
async def list_alarms(
    fleet: Fleet, _: Staff,
    status: Annotated[AlarmStatus | None, Query(description="active or cleared")] = None,
    acknowledged: Annotated[bool | None, Query()] = None,
    device_id: Annotated[str | None, Query(max_length=63, description="only this device's")]
    = None,
    limit: Limit = 500,
) -> list[AlarmOut]:
    """Alarms, newest first."""
    alarms = await fleet.alarms(status=status, acknowledged=acknowledged, device_id=device_id,
                                limit=limit)
    return [AlarmOut.build(a) for a in alarms]


@router.get("/{alarm_id}", response_model=AlarmOut, responses=NOT_FOUND)
async def get_alarm(fleet: Fleet, _: Staff, alarm_id: RowId) -> AlarmOut:
    """One alarm."""
    return AlarmOut.build(await fleet.alarm(alarm_id))


@router.post("/{alarm_id}/ack", response_model=AlarmOut, responses=NOT_FOUND)
async def ack_alarm(alarms: Alarms, principal: Facilities, alarm_id: RowId) -> AlarmOut:
    """Acknowledge an alarm (it stays active until cleared); repeating it changes nothing."""
    return AlarmOut.build(await alarms.acknowledge(alarm_id, principal.name))


@router.post("/{alarm_id}/clear", response_model=AlarmOut, responses={
    **NOT_FOUND,
    409: {"model": ErrorOut, "description": "its cause still holds (code alarm.condition_holds, "
                                            "reason device_offline, door_open, tamper_active "
                                            "or hardware_offline)"},
    422: {"model": ErrorOut, "description": "a critical alarm without a note (code "
                                            "note.required)"},
})
async def clear_alarm(clearing: Clearing, principal: Facilities, alarm_id: RowId,
                      body: AlarmClearIn | None = None) -> AlarmOut:
    """Clear an alarm by hand (e.g. after fixing the device), with a note of what was found
    (required for a critical alarm, kept as ``cleared_note``). Refused while its cause still
    holds: an offline alarm while the device is offline, a held-open door still open, tamper
    still reported. Repeating it changes nothing."""
    note = None if body is None else body.note
    return AlarmOut.build(await clearing.clear(alarm_id, principal.name, note))
