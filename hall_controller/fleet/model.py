"""The controller's records. Plain dataclasses shared by services, stores and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from devices.kinds import DeviceKind

TelemetryScalar = bool | int | float | str


@dataclass(slots=True)
class DeviceRecord:
    """A device as the registry knows it (registry + presence + identity from the birth)."""

    device_id: str
    kind: DeviceKind
    model: str = ""
    fw: str = ""
    site: str = ""
    online: bool = False
    session: int = 0
    first_seen_ms: int = 0
    last_seen_ms: int = 0
    online_since_ms: int | None = None
    offline_reason: str | None = None  # "will", "timeout", "shutdown"


@dataclass(frozen=True, slots=True)
class TelemetryPoint:
    device_id: str
    ts_ms: int
    metric: str
    value: TelemetryScalar


@dataclass(frozen=True, slots=True)
class LatestValue:
    metric: str
    ts_ms: int
    value: TelemetryScalar


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    event_id: str  # UUID string from the device; redelivery dedupes on it
    device_id: str
    ts_ms: int
    type: str
    data: dict[str, Any]
    received_ms: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received_ms: int
    topic: str
    device_id: str | None
    reason: str
    payload: bytes  # truncated to the store's limit; size keeps the real length
    size: int


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    id: int
    received_ms: int
    topic: str
    device_id: str | None
    reason: str
    payload_preview: str
    size: int


class AlarmSeverity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


class AlarmStatus(StrEnum):
    ACTIVE = "active"
    CLEARED = "cleared"


@dataclass(slots=True)
class Alarm:
    """Unique per (device, type) while active; ThingsBoard-style active/cleared × acknowledged."""

    id: int
    device_id: str
    type: str
    severity: AlarmSeverity
    status: AlarmStatus
    acknowledged: bool
    raised_ms: int
    updated_ms: int
    count: int = 1
    details: dict[str, Any] = field(default_factory=dict)
    cleared_ms: int | None = None
    acked_ms: int | None = None
    acked_by: str | None = None
    cleared_by: str | None = None
    cleared_note: str | None = None  # why staff cleared it by hand (required when critical)


class CommandStatus(StrEnum):
    PENDING = "pending"      # stored, not yet published
    SENT = "sent"            # published, waiting for cmd/ack
    SUCCEEDED = "succeeded"  # ack ok=true
    FAILED = "failed"        # ack ok=false (error holds the device's reason)
    TIMED_OUT = "timed_out"  # no ack within the timeout
    EXPIRED = "expired"      # expires_at passed before it could be sent


@dataclass(slots=True)
class CommandRecord:
    command_id: str
    device_id: str
    method: str
    params: dict[str, Any]
    status: CommandStatus
    created_ms: int
    expires_at_ms: int
    requested_by: str
    sent_ms: int | None = None
    completed_ms: int | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    note: str | None = None          # why a person sent it (required for a reboot)

    @property
    def automatic(self) -> bool:
        """Sent by the controller itself, not by a person (a display's calls)."""
        return is_automatic(self.requested_by)


# Commands the controller sends by itself are requested by "system:<what>" (no username has a
# colon); the displays' calls and waiting lists were requested by "clerk-service" before
# migration 0019. sql/commands.sql list_staff_commands holds the same rule.
SYSTEM_REQUESTER_PREFIX = "system:"
LEGACY_SYSTEM_REQUESTERS = frozenset({"clerk-service"})


def is_automatic(requested_by: str) -> bool:
    """Whether a command with this requester was sent by the controller, not a person."""
    return requested_by.startswith(SYSTEM_REQUESTER_PREFIX) or requested_by in LEGACY_SYSTEM_REQUESTERS


class Role(StrEnum):
    ADMIN = "admin"
    FACILITIES = "facilities"
    CLERK = "clerk"
    # Takes over and force-closes windows (api/routes/clerk.py), which only admins could.
    SUPERVISOR = "supervisor"


@dataclass(frozen=True, slots=True)
class User:
    username: str
    password_hash: str
    role: Role
    disabled: bool = False
    # Written into every token issued for the user; a token of another version is refused.
    token_version: int = 0


@dataclass(frozen=True, slots=True)
class TelemetryBucket:
    """One time bucket of a metric, aggregated in the database."""

    bucket_start_ms: int
    count: int
    avg: float | None
    min: float | None
    max: float | None
    last: TelemetryScalar | None


@dataclass(slots=True)
class IngestBatch:
    """Everything one ingest transaction commits; acknowledged to the broker only after commit."""

    telemetry: list[TelemetryPoint] = field(default_factory=list)
    events: list[DeviceEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    devices: dict[str, DeviceRecord] = field(default_factory=dict)  # registry upserts

    def is_empty(self) -> bool:
        return not (self.telemetry or self.events or self.dead_letters or self.devices)
