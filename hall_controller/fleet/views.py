"""What the API shows of the fleet: devices with their latest values, telemetry series,
events, alarms, commands and dead letters, read from the store.

Reads only; an unknown device, alarm or command is a ``NotFound`` here, so every caller
answers it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.kinds import DeviceKind
from hall_controller.fleet.model import (
    Alarm,
    AlarmStatus,
    CommandRecord,
    DeviceRecord,
    LatestValue,
    StoredDeadLetter,
    TelemetryBucket,
)
from hall_controller.fleet.ports import FleetRecords
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import NotFound


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device with its latest value per metric."""

    device: DeviceRecord
    latest: list[LatestValue]


@dataclass(frozen=True, slots=True)
class DeviceDetail(DeviceView):
    """... and its active alarms."""

    active_alarms: list[Alarm]


class FleetViews:
    """The fleet as staff look at it, over the store's ports."""

    def __init__(self, store: FleetRecords) -> None:
        self._store = store

    async def devices(self, *, kind: DeviceKind | None = None, site: str | None = None,
                      online: bool | None = None) -> list[DeviceView]:
        """Every device (or those of ``kind``, at ``site``, online or not) with its latest
        values."""
        devices = [
            d for d in await self._store.list_devices()
            if (kind is None or d.kind == kind) and (site is None or d.site == site)
            and (online is None or d.online == online)
        ]
        if not devices:
            return []
        filtered = kind is not None or site is not None or online is not None
        # Unfiltered, ask for everything rather than send every device id back to the database.
        latest = await self._store.latest_values(
            [d.device_id for d in devices] if filtered else None)
        return [DeviceView(d, latest.get(d.device_id, [])) for d in devices]

    async def device(self, device_id: str) -> DeviceRecord:
        """The device; raises NotFound."""
        device = await self._store.get_device(device_id)
        if device is None:
            raise NotFound(f"unknown device {device_id!r}",
                           code=ErrorCode.DEVICE_UNKNOWN, device=device_id)
        return device

    async def device_detail(self, device_id: str) -> DeviceDetail:
        """The device with its latest values and its active alarms; raises NotFound."""
        device = await self.device(device_id)
        latest = await self._store.latest_values([device_id])
        alarms = await self._store.list_alarms(status=AlarmStatus.ACTIVE, device_id=device_id)
        return DeviceDetail(device, latest.get(device_id, []), alarms)

    async def telemetry_series(self, device_id: str, metric: str, from_ms: int, to_ms: int,
                               bucket_s: int) -> list[TelemetryBucket]:
        """A metric of the device in buckets, oldest first; raises NotFound."""
        await self.device(device_id)
        return await self._store.telemetry_series(device_id, metric, from_ms, to_ms, bucket_s)

    async def events(self, device_id: str, limit: int,
                     before_ms: int | None = None) -> list[dict[str, object]]:
        """The device's events, newest first; raises NotFound."""
        await self.device(device_id)
        return await self._store.list_events(device_id, limit, before_ms)

    async def alarms(self, *, status: AlarmStatus | None = None,
                     acknowledged: bool | None = None, device_id: str | None = None,
                     limit: int = 500) -> list[Alarm]:
        """Alarms, newest first."""
        return await self._store.list_alarms(status=status, acknowledged=acknowledged,
                                             device_id=device_id, limit=limit)

    async def alarm(self, alarm_id: int) -> Alarm:
        """One alarm; raises NotFound."""
        alarm = await self._store.get_alarm(alarm_id)
        if alarm is None:
            raise NotFound(f"unknown alarm {alarm_id}",
                           code=ErrorCode.ALARM_UNKNOWN, alarm=alarm_id)
        return alarm

    async def commands(self, device_id: str, limit: int, *,
                       automatic: bool = True) -> list[CommandRecord]:
        """The commands sent to the device, newest first (without the controller's own when
        ``automatic`` is false); raises NotFound."""
        await self.device(device_id)
        return await self._store.list_commands(device_id, limit, automatic=automatic)

    async def command(self, command_id: str) -> CommandRecord:
        """One command; raises NotFound."""
        record = await self._store.get_command(command_id)
        if record is None:
            raise NotFound(f"unknown command {command_id!r}",
                           code=ErrorCode.COMMAND_UNKNOWN, command=command_id)
        return record

    async def dead_letters(self, *, limit: int = 100,
                           device_id: str | None = None) -> list[StoredDeadLetter]:
        """Refused messages, newest first."""
        return await self._store.list_dead_letters(limit=limit, device_id=device_id)

    async def dead_letter_counts(self) -> dict[str, int]:
        """How many messages were refused, by reason."""
        return await self._store.count_dead_letters_by_reason()
