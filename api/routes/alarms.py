"""Alarms: list, look at, acknowledge, clear."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import Facilities, Staff
from api.context import Context
from api.params import Limit, RowId
from api.schemas import AlarmOut, ErrorOut
from devices.contract import now_ms
from hall_controller.fleet.model import AlarmStatus
from hall_controller.kernel.errors import NotFound

router = APIRouter(prefix="/alarms", tags=["alarms"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown alarm"},
}


@router.get("", response_model=list[AlarmOut])
async def list_alarms(
    ctx: Context, _: Staff,
    status: Annotated[AlarmStatus | None, Query(description="active or cleared")] = None,
    acknowledged: Annotated[bool | None, Query()] = None,
    device_id: Annotated[str | None, Query(max_length=63, description="only this device's")]
    = None,
    limit: Limit = 500,
) -> list[AlarmOut]:
    """Alarms, newest first."""
    alarms = await ctx.store.list_alarms(status=status, acknowledged=acknowledged,
                                         device_id=device_id, limit=limit)
    return [AlarmOut.build(a) for a in alarms]


@router.get("/{alarm_id}", response_model=AlarmOut, responses=NOT_FOUND)
async def get_alarm(ctx: Context, _: Staff, alarm_id: RowId) -> AlarmOut:
    """One alarm."""
    alarm = await ctx.store.get_alarm(alarm_id)
    if alarm is None:
        raise NotFound(f"unknown alarm {alarm_id}")
    return AlarmOut.build(alarm)


@router.post("/{alarm_id}/ack", response_model=AlarmOut, responses=NOT_FOUND)
async def ack_alarm(ctx: Context, principal: Facilities, alarm_id: RowId) -> AlarmOut:
    """Acknowledge an alarm (it stays active until cleared); repeating it changes nothing."""
    return AlarmOut.build(await ctx.store.ack_alarm(alarm_id, now_ms(), principal.name))


@router.post("/{alarm_id}/clear", response_model=AlarmOut, responses=NOT_FOUND)
async def clear_alarm(ctx: Context, principal: Facilities, alarm_id: RowId) -> AlarmOut:
    """Clear an alarm by hand (e.g. after fixing the device); repeating it changes nothing."""
    return AlarmOut.build(await ctx.store.clear_alarm(alarm_id, now_ms(), principal.name))
