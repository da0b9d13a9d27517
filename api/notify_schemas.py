"""Request and response bodies of the notification routes (``api/routes/notify.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.params import BIGINT_MAX, MillisIn
from api.schemas import AlarmOut
from hall_controller.fleet.model import Alarm, AlarmSeverity
from hall_controller.notify.model import (
    AlarmTrack,
    Channel,
    Delivery,
    DeliveryStatus,
    HistoryEntry,
    HistoryKind,
    MaintenanceWindow,
    Override,
    Recipient,
    RecipientDraft,
    Role,
    Shift,
    TrackStatus,
)

Text100 = Annotated[str, Field(max_length=100)]
Address = Annotated[str, Field(max_length=254)]
Minute = Annotated[int, Field(ge=0, le=2880)]


class StrictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecipientIn(StrictIn):
    name: Text100
    role: Role
    channels: list[Channel] = Field(max_length=5)
    sites: list[Annotated[str, Field(max_length=128)]] = Field(default_factory=list,
                                                               max_length=50)
    min_severity: AlarmSeverity = AlarmSeverity.WARNING
    email: Address = ""
    wecom_user: Address = ""
    dingtalk_user: Address = ""
    phone: Address = ""
    platform_user: Address = ""
    locale: Annotated[str, Field(pattern="^(zh|en)$")] = "zh"
    active: bool = True

    def draft(self) -> RecipientDraft:
        return RecipientDraft(**{**self.model_dump(), "channels": tuple(self.channels),
                                 "sites": tuple(self.sites)})


class RecipientOut(RecipientIn):
    id: int
    updated_ms: int
    updated_by: str

    @classmethod
    def build(cls, r: Recipient) -> RecipientOut:
        return cls(id=r.id, name=r.name, role=r.role, channels=list(r.channels),
                   sites=list(r.sites), min_severity=r.min_severity, email=r.email,
                   wecom_user=r.wecom_user, dingtalk_user=r.dingtalk_user, phone=r.phone,
                   platform_user=r.platform_user, locale=r.locale, active=r.active,
                   updated_ms=r.updated_ms, updated_by=r.updated_by)


class PersonOut(BaseModel):
    id: int
    name: str
    role: Role
    active: bool


class ShiftIn(StrictIn):
    recipient_id: Annotated[int, Field(ge=1, le=BIGINT_MAX)]
    weekday: Annotated[int, Field(ge=0, le=6, description="0 = Monday")]
    start_minute: Minute
    end_minute: Minute
    site: Annotated[str, Field(max_length=128)] = ""


class ShiftOut(ShiftIn):
    id: int


class OverrideIn(StrictIn):
    recipient_id: Annotated[int, Field(ge=1, le=BIGINT_MAX)]
    day: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    start_minute: Minute = 0
    end_minute: Minute = 1440
    site: Annotated[str, Field(max_length=128)] = ""
    note: Annotated[str, Field(max_length=200)] = ""


class OverrideOut(OverrideIn):
    id: int


class RotaOut(BaseModel):
    shifts: list[ShiftOut]
    overrides: list[OverrideOut]
    on_call_now: list[RecipientOut]

    @classmethod
    def build(cls, shifts: list[Shift], overrides: list[Override],
              now: list[Recipient]) -> RotaOut:
        return cls(shifts=[ShiftOut(**_fields(s)) for s in shifts],
                   overrides=[OverrideOut(**_fields(o)) for o in overrides],
                   on_call_now=[RecipientOut.build(r) for r in now])


class WindowIn(StrictIn):
    device_id: Annotated[str, Field(max_length=63)] = ""
    site: Annotated[str, Field(max_length=128)] = ""
    starts_ms: MillisIn
    ends_ms: MillisIn
    reason: Annotated[str, Field(max_length=200)]


class WindowOut(WindowIn):
    id: int
    created_by: str

    @classmethod
    def build(cls, w: MaintenanceWindow) -> WindowOut:
        return cls(**_fields(w))


class ChannelsOut(BaseModel):
    configured: list[Channel] = Field(description="channels with a table in [notify]")
    ack_links: bool = Field(description="messages carry a signed acknowledgement link")
    escalation_s: dict[str, list[float]]
    digest_severities: list[AlarmSeverity]


class TrackOut(BaseModel):
    alarm_id: int
    device_id: str
    type: str
    severity: AlarmSeverity
    site: str
    raised_ms: int
    status: TrackStatus
    level: int
    next_step_ms: int | None
    reason: str

    @classmethod
    def build(cls, t: AlarmTrack) -> TrackOut:
        fields = _fields(t)
        fields.pop("digest_pending")
        return cls(**fields)


class DeliveryOut(BaseModel):
    id: int
    alarm_id: int | None
    recipient_id: int | None
    purpose: str
    channel: Channel
    address: str
    subject: str
    status: DeliveryStatus
    attempts: int
    created_ms: int
    next_attempt_ms: int | None
    delivered_ms: int | None
    last_error: str

    @classmethod
    def build(cls, d: Delivery) -> DeliveryOut:
        return cls(id=d.id, alarm_id=d.alarm_id, recipient_id=d.recipient_id,
                   purpose=d.purpose, channel=d.message.channel, address=d.message.address,
                   subject=d.message.subject, status=d.status, attempts=d.attempts,
                   created_ms=d.created_ms, next_attempt_ms=d.next_attempt_ms,
                   delivered_ms=d.delivered_ms, last_error=d.last_error)


class HistoryOut(BaseModel):
    at_ms: int
    kind: HistoryKind
    level: int
    recipient_id: int | None
    recipient: str | None
    channel: Channel | None
    delivery_id: int | None
    details: dict[str, Any]

    @classmethod
    def build(cls, e: HistoryEntry, names: dict[int, str]) -> HistoryOut:
        return cls(at_ms=e.at_ms, kind=e.kind, level=e.level, recipient_id=e.recipient_id,
                   recipient=None if e.recipient_id is None else names.get(e.recipient_id),
                   channel=e.channel, delivery_id=e.delivery_id, details=e.details)


class AlarmHistoryOut(BaseModel):
    alarm: AlarmOut
    track: TrackOut | None = Field(description="None: the notifier has not handled it "
                                               "(raised before it ran, or too old)")
    in_maintenance: bool
    history: list[HistoryOut]
    deliveries: list[DeliveryOut]


class AckIn(StrictIn):
    token: Annotated[str, Field(min_length=1, max_length=200)]


class AckOut(BaseModel):
    """What the acknowledgement page shows: enough to know which alarm, nothing more."""

    alarm_id: int
    device_id: str
    type: str
    severity: AlarmSeverity
    raised_ms: int
    active: bool
    acknowledged: bool
    acked_by: str | None

    @classmethod
    def build(cls, a: Alarm) -> AckOut:
        return cls(alarm_id=a.id, device_id=a.device_id, type=a.type, severity=a.severity,
                   raised_ms=a.raised_ms, active=a.status.value == "active",
                   acknowledged=a.acknowledged, acked_by=a.acked_by)


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}
