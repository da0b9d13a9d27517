"""Devices: registry and presence, latest values, telemetry series, events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import Facilities, Staff
from api.context import Context
from api.params import BucketSeconds, DeviceId, Limit, invalid, millis_query
from api.schemas import (
    AlarmOut,
    DeviceDetailOut,
    DeviceOut,
    ErrorOut,
    EventOut,
    TelemetryBucketOut,
    TelemetrySeriesOut,
)
from devices.contract import now_ms
from devices.kinds import DeviceKind
from hall_controller.fleet.model import AlarmStatus, DeviceRecord
from hall_controller.fleet.ports import HallStore
from hall_controller.kernel.errors import NotFound

router = APIRouter(prefix="/devices", tags=["devices"])

DEFAULT_RANGE_MS = 3600 * 1000
DEFAULT_BUCKET_S = 60
# Beyond this a chart has more points than pixels, and the query gets expensive for nothing.
MAX_BUCKETS = 10_000
METRIC_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$"
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown device"},
}


async def _device(store: HallStore, device_id: str) -> DeviceRecord:
    device = await store.get_device(device_id)
    if device is None:
        raise NotFound(f"unknown device {device_id!r}")
    return device


@router.get("", response_model=list[DeviceOut])
async def list_devices(
    ctx: Context, _: Staff,
    kind: Annotated[DeviceKind | None, Query(description="only this kind")] = None,
    site: Annotated[str | None, Query(max_length=128, description="only this site")] = None,
    online: Annotated[bool | None, Query(description="only online (true) or offline (false)")]
    = None,
) -> list[DeviceOut]:
    """All devices with presence and their latest value per metric."""
    devices = [
        d for d in await ctx.store.list_devices()
        if (kind is None or d.kind == kind) and (site is None or d.site == site)
        and (online is None or d.online == online)
    ]
    if not devices:
        return []
    filtered = kind is not None or site is not None or online is not None
    # Unfiltered, ask for everything rather than send every device id back to the database.
    latest = await ctx.store.latest_values([d.device_id for d in devices] if filtered else None)
    return [DeviceOut.build(d, latest.get(d.device_id, [])) for d in devices]


@router.get("/{device_id}", response_model=DeviceDetailOut, responses=NOT_FOUND)
async def get_device(ctx: Context, _: Staff, device_id: DeviceId) -> DeviceDetailOut:
    """One device with its latest values and its active alarms."""
    device = await _device(ctx.store, device_id)
    latest = await ctx.store.latest_values([device_id])
    alarms = await ctx.store.list_alarms(status=AlarmStatus.ACTIVE, device_id=device_id)
    base = DeviceOut.build(device, latest.get(device_id, []))
    return DeviceDetailOut(**base.model_dump(), active_alarms=[AlarmOut.build(a) for a in alarms])


@router.get("/{device_id}/telemetry", response_model=TelemetrySeriesOut, responses=NOT_FOUND)
async def telemetry(
    *, ctx: Context, _: Staff, device_id: DeviceId,
    metric: Annotated[str, Query(pattern=METRIC_PATTERN, description="the metric's name")],
    from_ms: Annotated[int | None, millis_query("start; default: to_ms − 1 h")] = None,
    to_ms: Annotated[int | None, millis_query("end (exclusive); default: now")] = None,
    bucket_s: BucketSeconds = DEFAULT_BUCKET_S,
) -> TelemetrySeriesOut:
    """A metric aggregated into time buckets (count, avg, min, max, last) by the database.

    At most 10,000 buckets per query: widen ``bucket_s`` or narrow the range for more.
    """
    end = now_ms() if to_ms is None else to_ms
    start = end - DEFAULT_RANGE_MS if from_ms is None else from_ms
    if start >= end:
        raise invalid("query", "from_ms", f"from_ms ({start}) must be before to_ms ({end})",
                      from_ms)
    buckets = -(-(end - start) // (bucket_s * 1000))  # ceiling division
    if buckets > MAX_BUCKETS:
        raise invalid(
            "query", "bucket_s",
            f"the range holds {buckets} buckets of {bucket_s} s; at most {MAX_BUCKETS} are "
            "allowed: widen bucket_s or narrow from_ms..to_ms", bucket_s,
        )
    await _device(ctx.store, device_id)
    series = await ctx.store.telemetry_series(device_id, metric, start, end, bucket_s)
    return TelemetrySeriesOut(
        device_id=device_id, metric=metric, from_ms=start, to_ms=end, bucket_s=bucket_s,
        buckets=[TelemetryBucketOut.build(b) for b in series],
    )


@router.get("/{device_id}/events", response_model=list[EventOut], responses=NOT_FOUND)
async def events(
    ctx: Context, _: Facilities, device_id: DeviceId,
    limit: Limit = 100,
    before_ms: Annotated[int | None, millis_query("only events before this (paging)")] = None,
) -> list[EventOut]:
    """The device's events, newest first (facilities: door events name people)."""
    await _device(ctx.store, device_id)
    rows = await ctx.store.list_events(device_id, limit, before_ms)
    return [EventOut.model_validate(row) for row in rows]
