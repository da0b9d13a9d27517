"""Devices: registry and presence, latest values, telemetry series, events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import Facilities, Staff
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
from api.services import provide
from devices.contract import now_ms
from devices.kinds import DeviceKind
from hall_controller.fleet.views import FleetViews

Fleet = Annotated[FleetViews, Depends(provide(FleetViews))]
router = APIRouter(prefix="/devices", tags=["devices"])

DEFAULT_RANGE_MS = 3600 * 1000
DEFAULT_BUCKET_S = 60
# Beyond this a chart has more points than pixels, and the query gets expensive for nothing.
MAX_BUCKETS = 10_000
METRIC_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$"
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown device"},
}


@router.get("", response_model=list[DeviceOut])
async def list_devices(
    fleet: Fleet, _: Staff,
    kind: Annotated[DeviceKind | None, Query(description="only this kind")] = None,
    site: Annotated[str | None, Query(max_length=128, description="only this site")] = None,
    online: Annotated[bool | None, Query(description="only online (true) or offline (false)")]
    = None,
) -> list[DeviceOut]:
    """All devices with presence and their latest value per metric."""
    views = await fleet.devices(kind=kind, site=site, online=online)
    return [DeviceOut.build(v.device, v.latest) for v in views]


@router.get("/{device_id}", response_model=DeviceDetailOut, responses=NOT_FOUND)
async def get_device(fleet: Fleet, _: Staff, device_id: DeviceId) -> DeviceDetailOut:
    """One device with its latest values and its active alarms."""
    detail = await fleet.device_detail(device_id)
    base = DeviceOut.build(detail.device, detail.latest)
    return DeviceDetailOut(**base.model_dump(),
                           active_alarms=[AlarmOut.build(a) for a in detail.active_alarms])


@router.get("/{device_id}/telemetry", response_model=TelemetrySeriesOut, responses=NOT_FOUND)
async def telemetry(
    *, fleet: Fleet, _: Staff, device_id: DeviceId,
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
    series = await fleet.telemetry_series(device_id, metric, start, end, bucket_s)
    return TelemetrySeriesOut(
        device_id=device_id, metric=metric, from_ms=start, to_ms=end, bucket_s=bucket_s,
        buckets=[TelemetryBucketOut.build(b) for b in series],
    )


@router.get("/{device_id}/events", response_model=list[EventOut], responses=NOT_FOUND)
async def events(
    fleet: Fleet, _: Facilities, device_id: DeviceId,
    limit: Limit = 100,
    before_ms: Annotated[int | None, millis_query("only events before this (paging)")] = None,
) -> list[EventOut]:
    """The device's events, newest first (facilities: door events name people)."""
    rows = await fleet.events(device_id, limit, before_ms)
    return [EventOut.model_validate(row) for row in rows]
