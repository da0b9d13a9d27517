"""The notification room's records: recipients, the on-call rota, maintenance windows, each
alarm's notification track, its history, and the outgoing messages (deliveries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hall_controller.fleet.model import AlarmSeverity


class Channel(StrEnum):
    """How a message reaches a person (``ports.ChannelSender`` per channel)."""

    EMAIL = "email"
    WECOM = "wecom"          # 企业微信 application message
    DINGTALK = "dingtalk"    # 钉钉 work notification
    SMS = "sms"              # the configured HTTP SMS gateway
    WEBHOOK = "webhook"      # the online platform's message centre (signed webhook)


class Role(StrEnum):
    """Where a recipient stands in the escalation ladder. ``oncall`` people are reached only
    through the rota; ``watcher`` hears the first message of what matches, never escalations."""

    ONCALL = "oncall"
    WATCHER = "watcher"
    SUPERVISOR = "supervisor"
    FACILITIES_MANAGER = "facilities_manager"


# Escalation levels: 0 the on-call person (and the watchers), then each role in turn.
LEVEL_ROLES: tuple[tuple[Role, ...], ...] = (
    (Role.ONCALL, Role.WATCHER), (Role.SUPERVISOR,), (Role.FACILITIES_MANAGER,))
MAX_LEVEL = len(LEVEL_ROLES) - 1

SEVERITY_RANK: dict[AlarmSeverity, int] = {
    AlarmSeverity.WARNING: 0, AlarmSeverity.MINOR: 1, AlarmSeverity.MAJOR: 2,
    AlarmSeverity.CRITICAL: 3}


@dataclass(frozen=True, slots=True)
class RecipientDraft:
    """What an admin enters for a recipient. ``sites`` empty: every site. ``channels``: the
    channels to use, each needing its address."""

    name: str
    role: Role
    channels: tuple[Channel, ...]
    sites: tuple[str, ...] = ()
    min_severity: AlarmSeverity = AlarmSeverity.WARNING
    email: str = ""
    wecom_user: str = ""
    dingtalk_user: str = ""
    phone: str = ""
    platform_user: str = ""
    locale: str = "zh"
    active: bool = True


@dataclass(frozen=True, slots=True)
class Recipient(RecipientDraft):
    id: int = 0
    updated_ms: int = 0
    updated_by: str = ""


@dataclass(frozen=True, slots=True)
class Shift:
    """A weekly on-call shift: ``weekday`` 0 = Monday, minutes since local midnight,
    ``end_minute`` may pass midnight (up to 2880); ``site`` empty: every site."""

    recipient_id: int
    weekday: int
    start_minute: int
    end_minute: int
    site: str = ""
    id: int = 0


@dataclass(frozen=True, slots=True)
class Override:
    """On ``day`` (ISO date, local) between the minutes, ``recipient_id`` is on call instead of
    the weekly shifts of that site."""

    recipient_id: int
    day: str
    start_minute: int
    end_minute: int
    site: str = ""
    note: str = ""
    id: int = 0


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """Notifications about ``device_id`` (or every device of ``site``) are held from start to
    end; the alarms are still recorded, marked as in maintenance."""

    starts_ms: int
    ends_ms: int
    reason: str
    device_id: str = ""
    site: str = ""
    id: int = 0
    created_by: str = ""


class TrackStatus(StrEnum):
    """Where an alarm's notification stands."""

    NOTIFYING = "notifying"        # sent; escalates when due until acknowledged or cleared
    DONE = "done"                  # acknowledged, cleared, or the last level was reached
    MAINTENANCE = "maintenance"    # raised inside a maintenance window: nobody is told
    DIGEST = "digest"              # waits for the next digest (minor, or flapping)


@dataclass(slots=True)
class AlarmTrack:
    """One alarm as the notifier follows it."""

    alarm_id: int
    device_id: str
    type: str
    severity: AlarmSeverity
    site: str
    raised_ms: int
    status: TrackStatus
    level: int = 0                 # -1: in its grace period, nobody told yet
    next_step_ms: int | None = None
    digest_pending: bool = False
    reason: str = ""


class HistoryKind(StrEnum):
    """The steps an alarm's history shows (the API's ``kind``)."""

    GRACE = "grace"                         # waits: the alarm may clear itself (a reboot)
    NOTIFIED = "notified"                   # a message queued for a recipient (delivery_id)
    ESCALATED = "escalated"                 # went to the next level
    NO_RECIPIENT = "no_recipient"           # a level had nobody: skipped to the next
    MAINTENANCE = "maintenance"             # held: a maintenance window covers the device
    FLAPPING = "flapping"                   # held for the digest: it keeps coming back
    DIGEST_QUEUED = "digest_queued"         # minor: waits for the digest
    DIGESTED = "digested"                   # went out in a digest (delivery_id)
    STOPPED = "stopped"                     # escalation stopped (acknowledged or cleared)
    EXHAUSTED = "exhausted"                 # the last level was told; nothing more to do


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    alarm_id: int
    at_ms: int
    kind: HistoryKind
    level: int = 0
    recipient_id: int | None = None
    channel: Channel | None = None
    delivery_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: int = 0


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message for one address on one channel (what a ``ChannelSender`` sends). ``link``:
    the acknowledgement link, shown as a button where the channel has one."""

    channel: Channel
    address: str
    subject: str
    text: str
    link: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    """An outgoing message in the delivery log, with its attempts so far."""

    id: int
    message: OutgoingMessage
    recipient_id: int | None
    alarm_id: int | None
    purpose: str               # alarm, escalation, digest, test
    status: DeliveryStatus
    attempts: int
    created_ms: int
    next_attempt_ms: int | None = None
    delivered_ms: int | None = None
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """A message the rules decided on, before it has a delivery id; ``history`` is the kind of
    step it is written as."""

    message: OutgoingMessage
    recipient_id: int
    alarm_ids: tuple[int, ...]
    purpose: str
    level: int = 0
    history: HistoryKind = HistoryKind.NOTIFIED
