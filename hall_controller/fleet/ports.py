"""Ports: what the services need from the outside world, as Protocols.

``postgres_store`` implements the store ports for production, ``memory_store`` implements
them in memory for unit tests of the services (fakes over mocks).  Services never import an
adapter; only the composition root (``hall.assembly``) builds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from hall_controller.fleet.model import (
    Alarm,
    AlarmSeverity,
    AlarmStatus,
    CommandRecord,
    DeviceRecord,
    IngestBatch,
    LatestValue,
    StoredDeadLetter,
    TelemetryBucket,
)

if TYPE_CHECKING:  # provisioning.py imports this module
    from hall_controller.fleet.provisioning import DeviceCredential


class IngestStore(Protocol):
    async def commit_batch(self, batch: IngestBatch) -> set[str]:
        """Commit the whole batch in one transaction (telemetry by COPY, latest values,
        events deduplicated by id, dead letters, device upserts).

        Returns the ids of the events that were new (not seen before), so side effects run once.
        Raises StoreUnavailable if nothing was committed.
        """
        ...


class DeviceStore(Protocol):
    async def load_devices(self) -> list[DeviceRecord]: ...
    async def get_device(self, device_id: str) -> DeviceRecord | None: ...
    async def list_devices(self) -> list[DeviceRecord]: ...
    async def upsert_devices(self, devices: list[DeviceRecord]) -> None: ...
    async def latest_values(self, device_ids: list[str] | None = None) -> dict[str, list[LatestValue]]:
        """Latest value per metric, per device (all devices when ``device_ids`` is None)."""
        ...


class TelemetryQueries(Protocol):
    async def telemetry_series(
        self, device_id: str, metric: str, from_ms: int, to_ms: int, bucket_s: int
    ) -> list[TelemetryBucket]:
        """Buckets aggregated in the database, oldest first; empty buckets are omitted."""
        ...

    async def list_events(
        self, device_id: str | None, limit: int, before_ms: int | None = None
    ) -> list[dict[str, object]]: ...


class AlarmStore(Protocol):
    async def raise_alarm(
        self, device_id: str, type: str, severity: AlarmSeverity, details: dict[str, object],
        at_ms: int,
    ) -> tuple[Alarm, bool]:
        """Create the active alarm for (device, type), or bump the existing active one
        (count, updated, severity, details). Returns (alarm, created)."""
        ...

    async def clear_alarm_by_type(self, device_id: str, type: str, at_ms: int, by: str) -> Alarm | None:
        """Clear the active alarm of that type on that device, if any."""
        ...

    async def ack_alarm(self, alarm_id: int, at_ms: int, by: str) -> Alarm:
        """Raises NotFound; acknowledging twice is harmless (returns it unchanged)."""
        ...

    async def clear_alarm(self, alarm_id: int, at_ms: int, by: str,
                          note: str | None = None) -> Alarm:
        """Raises NotFound; clearing twice is harmless (the first clear and its note stay)."""
        ...

    async def get_alarm(self, alarm_id: int) -> Alarm | None: ...

    async def list_alarms(
        self, status: AlarmStatus | None = None, acknowledged: bool | None = None,
        device_id: str | None = None, limit: int = 500,
    ) -> list[Alarm]:
        """Newest first."""
        ...


class CommandStore(Protocol):
    async def insert_command(self, command: CommandRecord) -> None: ...
    async def update_command(self, command: CommandRecord) -> None: ...
    async def get_command(self, command_id: str) -> CommandRecord | None: ...
    async def list_commands(self, device_id: str, limit: int = 100, *,
                            automatic: bool = True) -> list[CommandRecord]:
        """Newest first; without those the controller sent by itself (``CommandRecord.automatic``)
        when ``automatic`` is false."""
        ...


class DeadLetterStore(Protocol):
    async def list_dead_letters(
        self, limit: int = 100, device_id: str | None = None
    ) -> list[StoredDeadLetter]:
        """Newest first."""
        ...

    async def count_dead_letters_by_reason(self) -> dict[str, int]:
        """Counts keyed by the reason's category (the text before the first ':')."""
        ...


class FleetRecords(DeviceStore, TelemetryQueries, AlarmStore, CommandStore, DeadLetterStore,
                   Protocol):
    """What the fleet's read views (``views.FleetViews``) look at."""


class AlarmRecords(AlarmStore, DeviceStore, Protocol):
    """What clearing an alarm by hand reads: the alarm and the device's latest values."""


class HallStore(IngestStore, DeviceStore, TelemetryQueries, AlarmStore, CommandStore,
                DeadLetterStore, Protocol):
    """Everything the device fleet stores; ``PostgresStore`` implements all of it (users are
    the users room's: ``hall_controller.users.ports.UserStore``)."""

    async def ping(self) -> bool: ...


class CommandSender(Protocol):
    """Sends a command to a device and follows it to its ack (the API's view of commands)."""

    async def send(
        self, device_id: str, method: str, params: dict[str, object], requested_by: str,
        *, wait: bool = True, timeout_s: float | None = None, note: str | None = None,
    ) -> CommandRecord:
        """Store the command, publish it on ``cmd`` and, when ``wait``, return once it is
        acknowledged, failed or timed out (status tells which). Raises NotFound for an unknown
        device and DeviceOffline when the device is offline. ``note``: why a person sent it."""
        ...


class HealthProbe(Protocol):
    async def health(self) -> dict[str, object]:
        """{"status": "ok"|"degraded", "components": {...}, "counters": {...}}"""
        ...


class ProvisioningStore(Protocol):
    """Provisioned device credentials (``provisioning.py``)."""

    async def get_credential(self, device_id: str) -> DeviceCredential | None: ...
    async def get_credentials(self, device_ids: list[str]) -> dict[str, DeviceCredential]:
        """Those of ``device_ids`` that are provisioned (active or revoked), by id."""
        ...
    async def list_credentials(self) -> list[DeviceCredential]:
        """Every provisioned device, by id."""
        ...
    async def save_credential(self, credential: DeviceCredential) -> None:
        """Insert or replace the device's credential."""
        ...
