"""Request and response bodies of the HTTP API.

Times are integers, milliseconds since the Unix epoch (UTC), as on the wire contract; their
names end in ``_ms``.  Each response model has a ``build`` classmethod that converts the
controller's record, so the routes never map fields by hand.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.params import NO_NUL
from devices.contract import DottedName
from devices.kinds import DeviceKind
from hall_controller.fleet.model import (
    Alarm,
    AlarmSeverity,
    AlarmStatus,
    CommandRecord,
    CommandStatus,
    DeviceRecord,
    LatestValue,
    StoredDeadLetter,
    TelemetryBucket,
)
from hall_controller.fleet.rules import MAX_NOTE_LENGTH

Millis = Annotated[int, Field(description="milliseconds since the Unix epoch (UTC)")]
Scalar = bool | int | float | str
MAX_COMMAND_TIMEOUT_S = 60.0


class LatestOut(BaseModel):
    value: Scalar
    ts_ms: Millis


class DeviceOut(BaseModel):
    device_id: str
    kind: DeviceKind
    model: str
    fw: str
    site: str
    online: bool
    session: int = Field(description="the session number of the device's last birth")
    first_seen_ms: Millis
    last_seen_ms: Millis
    online_since_ms: Millis | None
    offline_reason: str | None = Field(description='"will", "timeout" or "shutdown" when offline')
    latest: dict[str, LatestOut] = Field(description="latest value per metric")

    @classmethod
    def build(cls, device: DeviceRecord, latest: list[LatestValue]) -> DeviceOut:
        return cls(
            device_id=device.device_id, kind=device.kind, model=device.model, fw=device.fw,
            site=device.site, online=device.online, session=device.session,
            first_seen_ms=device.first_seen_ms, last_seen_ms=device.last_seen_ms,
            online_since_ms=device.online_since_ms, offline_reason=device.offline_reason,
            latest={v.metric: LatestOut(value=v.value, ts_ms=v.ts_ms) for v in latest},
        )


class AlarmOut(BaseModel):
    id: int
    device_id: str
    type: str
    severity: AlarmSeverity
    status: AlarmStatus
    acknowledged: bool
    raised_ms: Millis
    updated_ms: Millis
    count: int = Field(description="how many times it was raised while active")
    details: dict[str, Any]
    cleared_ms: Millis | None
    acked_ms: Millis | None
    acked_by: str | None
    cleared_by: str | None
    cleared_note: str | None = Field(default=None,
                                     description="why staff cleared it by hand (their note)")

    @classmethod
    def build(cls, alarm: Alarm) -> AlarmOut:
        return cls(
            id=alarm.id, device_id=alarm.device_id, type=alarm.type, severity=alarm.severity,
            status=alarm.status, acknowledged=alarm.acknowledged, raised_ms=alarm.raised_ms,
            updated_ms=alarm.updated_ms, count=alarm.count, details=alarm.details,
            cleared_ms=alarm.cleared_ms, acked_ms=alarm.acked_ms, acked_by=alarm.acked_by,
            cleared_by=alarm.cleared_by, cleared_note=alarm.cleared_note,
        )


class DeviceDetailOut(DeviceOut):
    active_alarms: list[AlarmOut]


class TelemetryBucketOut(BaseModel):
    bucket_start_ms: Millis
    count: int
    avg: float | None
    min: float | None
    max: float | None
    last: Scalar | None

    @classmethod
    def build(cls, bucket: TelemetryBucket) -> TelemetryBucketOut:
        return cls(bucket_start_ms=bucket.bucket_start_ms, count=bucket.count, avg=bucket.avg,
                   min=bucket.min, max=bucket.max, last=bucket.last)


class TelemetrySeriesOut(BaseModel):
    device_id: str
    metric: str
    from_ms: Millis
    to_ms: Millis
    bucket_s: int
    buckets: list[TelemetryBucketOut] = Field(description="oldest first; empty buckets omitted")


class EventOut(BaseModel):
    """A device event as stored (the store's keys pass through)."""

    model_config = ConfigDict(extra="allow")

    event_id: str
    device_id: str
    ts_ms: Millis
    type: str
    data: dict[str, Any]


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: DottedName = Field(description="dotted name, e.g. door.unlock or display.reboot")
    params: dict[str, Any] = Field(default_factory=dict)
    wait: bool = Field(default=True, description="wait for the device's ack (or the timeout)")
    timeout_s: float | None = Field(
        default=None, gt=0, le=MAX_COMMAND_TIMEOUT_S,
        description="how long to wait for the ack; the controller's default when omitted",
    )
    note: str | None = Field(
        default=None, max_length=MAX_NOTE_LENGTH, pattern=NO_NUL,
        description="why it is sent, kept in the command history; required for device.reboot",
    )


class AlarmClearIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(
        default=None, max_length=MAX_NOTE_LENGTH, pattern=NO_NUL,
        description="what was found or done, kept with the alarm; required for a critical one",
    )


class CommandOut(BaseModel):
    command_id: str
    device_id: str
    method: str
    params: dict[str, Any]
    status: CommandStatus
    created_ms: Millis
    expires_at_ms: Millis
    requested_by: str
    sent_ms: Millis | None
    completed_ms: Millis | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    note: str | None = Field(default=None, description="why the person sent it")
    automatic: bool = Field(default=False, description="sent by the controller itself "
                            "(a display's calls and waiting list), not by a person")

    @classmethod
    def build(cls, record: CommandRecord) -> CommandOut:
        return cls(
            command_id=record.command_id, device_id=record.device_id, method=record.method,
            params=record.params, status=record.status, created_ms=record.created_ms,
            expires_at_ms=record.expires_at_ms, requested_by=record.requested_by,
            sent_ms=record.sent_ms, completed_ms=record.completed_ms, result=record.result,
            error=record.error, note=record.note, automatic=record.automatic,
        )


class DeadLetterOut(BaseModel):
    id: int
    received_ms: Millis
    topic: str
    device_id: str | None
    reason: str
    payload_preview: str
    size: int = Field(description="the payload's real length in bytes")

    @classmethod
    def build(cls, letter: StoredDeadLetter) -> DeadLetterOut:
        return cls(id=letter.id, received_ms=letter.received_ms, topic=letter.topic,
                   device_id=letter.device_id, reason=letter.reason,
                   payload_preview=letter.payload_preview, size=letter.size)


class DeadLetterSummaryOut(BaseModel):
    total: int
    by_reason: dict[str, int] = Field(description="counts by the reason's category")


class HealthOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: str = Field(description='"ok" or "degraded"')
    components: dict[str, Any] = Field(default_factory=dict)
    counters: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    """Every error answer (docs/integration.md#errors)."""

    detail: Any = Field(description="English, for developers; may be reworded (a validation "
                                    "error keeps FastAPI's list of {loc, msg, type})")
    code: str = Field(description='stable, e.g. "window.open_by_other"; act on this, not on '
                                  "detail")
    params: dict[str, Any] = Field(description='what the code names, e.g. {"window": 1, '
                                               '"clerk": "sim-w1"}')
