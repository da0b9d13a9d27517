"""``HallStore`` in memory: the fake the services' unit tests (and the API's) run against.

Same observable behaviour as ``PostgresStore`` — events deduplicated by id, telemetry by
(device, metric, ts) with the first value kept (see ``PostgresStore``), one active alarm
per (device, type), newest-first lists, latest values that never go back in time, telemetry
buckets aligned on the epoch — because both apply the same batch rules
(``hall_controller.fleet.batch.prepare_batch``) and the shared contract tests
(``tests/support/store_contract.py``) run against both.

Pure: no I/O. Its state is public so tests can look at what was stored, and
``available = False`` makes every call raise StoreUnavailable, as a database outage would.
Records handed out are copies: changing one does not change the store, as with a database.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable
from typing import TypeVar

from hall_controller.fleet.batch import (
    TelemetryRow,
    payload_preview,
    prepare_batch,
    reason_category,
    scrub_json,
    scrub_text,
)
from hall_controller.fleet.model import (
    Alarm,
    AlarmSeverity,
    AlarmStatus,
    CommandRecord,
    DeadLetter,
    DeviceEvent,
    DeviceRecord,
    IngestBatch,
    LatestValue,
    StoredDeadLetter,
    TelemetryBucket,
)
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, NotFound, StoreUnavailable

_T = TypeVar("_T")
_MS_PER_DAY = 86_400_000


def _copy(value: _T) -> _T:
    return copy.deepcopy(value)


class MemoryStore:
    """Every store port of the controller, kept in dictionaries and lists."""

    def __init__(self, *, retention_days: int = 90) -> None:
        self.retention_days = retention_days
        self.available = True
        self.devices: dict[str, DeviceRecord] = {}
        self.telemetry: list[TelemetryRow] = []
        self._samples: set[tuple[str, str, int]] = set()  # (device, metric, ts) in telemetry
        self.latest: dict[tuple[str, str], LatestValue] = {}
        self.events: dict[uuid.UUID, DeviceEvent] = {}
        self.dead_letters: dict[int, DeadLetter] = {}
        self.alarms: dict[int, Alarm] = {}
        self.commands: dict[str, CommandRecord] = {}
        self.committed_batches = 0
        self._next_dead_letter_id = 1
        self._next_alarm_id = 1

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("memory store set unavailable")

    async def ping(self) -> bool:
        return self.available

    # -- ingest -------------------------------------------------------------------------------

    async def commit_batch(self, batch: IngestBatch) -> set[str]:
        """Store the whole batch; returns the ids of the events not seen before."""
        self._check()
        if batch.is_empty():
            return set()
        prepared = prepare_batch(batch)  # everything that can fail happens before any change
        for sample in prepared.telemetry:
            stored_key = (sample.device_id, sample.metric, sample.ts_ms)
            if stored_key not in self._samples:  # redelivered: the first value stands
                self._samples.add(stored_key)
                self.telemetry.append(sample)
        for row in prepared.latest:
            key = (row.device_id, row.metric)
            current = self.latest.get(key)
            if current is None or row.ts_ms > current.ts_ms:
                self.latest[key] = LatestValue(row.metric, row.ts_ms, row.value)
        new_ids: set[str] = set()
        for item in prepared.events:
            if item.event_uuid not in self.events:
                self.events[item.event_uuid] = item.event
                new_ids.add(item.event.event_id)
        for letter in prepared.dead_letters:
            self.dead_letters[self._next_dead_letter_id] = letter
            self._next_dead_letter_id += 1
        for device in prepared.devices:
            self.devices[device.device_id] = _copy(device)
        self.committed_batches += 1
        return new_ids

    # -- devices ------------------------------------------------------------------------------

    async def load_devices(self) -> list[DeviceRecord]:
        return await self.list_devices()

    async def list_devices(self) -> list[DeviceRecord]:
        self._check()
        return [_copy(self.devices[k]) for k in sorted(self.devices)]

    async def get_device(self, device_id: str) -> DeviceRecord | None:
        self._check()
        device = self.devices.get(device_id)
        return None if device is None else _copy(device)

    async def upsert_devices(self, devices: list[DeviceRecord]) -> None:
        self._check()
        prepared = prepare_batch(IngestBatch(devices={d.device_id: d for d in devices}))
        for device in prepared.devices:
            self.devices[device.device_id] = _copy(device)

    async def latest_values(
        self, device_ids: list[str] | None = None,
    ) -> dict[str, list[LatestValue]]:
        self._check()
        wanted = None if device_ids is None else set(device_ids)
        result: dict[str, list[LatestValue]] = {}
        for (device_id, _metric), value in sorted(self.latest.items()):
            if wanted is None or device_id in wanted:
                result.setdefault(device_id, []).append(value)
        return result

    # -- telemetry and events -----------------------------------------------------------------

    async def telemetry_series(
        self, device_id: str, metric: str, from_ms: int, to_ms: int, bucket_s: int,
    ) -> list[TelemetryBucket]:
        """Buckets aligned on the epoch, ``from_ms`` inclusive, ``to_ms`` exclusive."""
        self._check()
        if bucket_s < 1:
            raise ValueError("bucket_s must be at least 1")
        width = bucket_s * 1000
        buckets: dict[int, list[TelemetryRow]] = {}
        for row in self.telemetry:
            if row.device_id == device_id and row.metric == metric and from_ms <= row.ts_ms < to_ms:
                buckets.setdefault(row.ts_ms // width * width, []).append(row)
        result = []
        for start in sorted(buckets):
            rows = buckets[start]
            numbers = [r.num for r in rows if r.num is not None]
            newest = max(rows, key=lambda r: r.ts_ms)  # one sample per ts: no ties
            result.append(TelemetryBucket(
                bucket_start_ms=start, count=len(rows),
                avg=sum(numbers) / len(numbers) if numbers else None,
                min=min(numbers) if numbers else None, max=max(numbers) if numbers else None,
                last=newest.value,
            ))
        return result

    async def list_events(
        self, device_id: str | None, limit: int, before_ms: int | None = None,
    ) -> list[dict[str, object]]:
        self._check()
        chosen = [
            (key, e) for key, e in self.events.items()
            if (device_id is None or e.device_id == device_id)
            and (before_ms is None or e.ts_ms < before_ms)
        ]
        chosen.sort(key=lambda item: (item[1].ts_ms, str(item[0])), reverse=True)
        return [
            {"event_id": str(key), "device_id": e.device_id, "ts_ms": e.ts_ms, "type": e.type,
             "data": _copy(e.data), "received_ms": e.received_ms}
            for key, e in chosen[:max(limit, 0)]
        ]

    # -- alarms ---------------------------------------------------------------------------------

    def _active_alarm(self, device_id: str, type: str) -> Alarm | None:
        for alarm in self.alarms.values():
            if (alarm.device_id == device_id and alarm.type == type
                    and alarm.status is AlarmStatus.ACTIVE):
                return alarm
        return None

    async def raise_alarm(
        self, device_id: str, type: str, severity: AlarmSeverity, details: dict[str, object],
        at_ms: int,
    ) -> tuple[Alarm, bool]:
        self._check()
        alarm = self._active_alarm(device_id, type)
        if alarm is not None:
            alarm.count += 1
            alarm.updated_ms = max(alarm.updated_ms, at_ms)
            alarm.severity = severity
            alarm.details = scrub_json(details)
            return _copy(alarm), False
        alarm = Alarm(
            id=self._next_alarm_id, device_id=device_id, type=type, severity=severity,
            status=AlarmStatus.ACTIVE, acknowledged=False, raised_ms=at_ms, updated_ms=at_ms,
            count=1, details=scrub_json(details),
        )
        self._next_alarm_id += 1
        self.alarms[alarm.id] = alarm
        return _copy(alarm), True

    async def clear_alarm_by_type(self, device_id: str, type: str, at_ms: int,
                                  by: str) -> Alarm | None:
        self._check()
        alarm = self._active_alarm(device_id, type)
        if alarm is None:
            return None
        _clear(alarm, at_ms, by)
        return _copy(alarm)

    async def ack_alarm(self, alarm_id: int, at_ms: int, by: str) -> Alarm:
        self._check()
        alarm = self.alarms.get(alarm_id)
        if alarm is None:
            raise NotFound(f"alarm {alarm_id} does not exist",
                           code=ErrorCode.ALARM_UNKNOWN, alarm=alarm_id)
        if not alarm.acknowledged:
            alarm.acknowledged = True
            alarm.acked_ms = at_ms
            alarm.acked_by = by
            alarm.updated_ms = max(alarm.updated_ms, at_ms)
        return _copy(alarm)

    async def clear_alarm(self, alarm_id: int, at_ms: int, by: str,
                          note: str | None = None) -> Alarm:
        self._check()
        alarm = self.alarms.get(alarm_id)
        if alarm is None:
            raise NotFound(f"alarm {alarm_id} does not exist",
                           code=ErrorCode.ALARM_UNKNOWN, alarm=alarm_id)
        if alarm.status is AlarmStatus.ACTIVE:
            _clear(alarm, at_ms, by)
            alarm.cleared_note = note
        return _copy(alarm)

    async def get_alarm(self, alarm_id: int) -> Alarm | None:
        self._check()
        alarm = self.alarms.get(alarm_id)
        return None if alarm is None else _copy(alarm)

    async def list_alarms(
        self, status: AlarmStatus | None = None, acknowledged: bool | None = None,
        device_id: str | None = None, limit: int = 500,
    ) -> list[Alarm]:
        self._check()
        chosen = [
            a for a in self.alarms.values()
            if (status is None or a.status is status)
            and (acknowledged is None or a.acknowledged is acknowledged)
            and (device_id is None or a.device_id == device_id)
        ]
        chosen.sort(key=lambda a: (a.raised_ms, a.id), reverse=True)
        return _copies(chosen[:max(limit, 0)])

    # -- commands -------------------------------------------------------------------------------

    async def insert_command(self, command: CommandRecord) -> None:
        self._check()
        if command.command_id in self.commands:
            raise Conflict(f"command {command.command_id} already exists")
        self.commands[command.command_id] = _stored_command(command)

    async def update_command(self, command: CommandRecord) -> None:
        self._check()
        if command.command_id not in self.commands:
            raise NotFound(f"command {command.command_id} does not exist",
                           code=ErrorCode.COMMAND_UNKNOWN, command=command.command_id)
        self.commands[command.command_id] = _stored_command(command)

    async def get_command(self, command_id: str) -> CommandRecord | None:
        self._check()
        command = self.commands.get(command_id)
        return None if command is None else _copy(command)

    async def list_commands(self, device_id: str, limit: int = 100, *,
                            automatic: bool = True) -> list[CommandRecord]:
        self._check()
        chosen = [c for c in self.commands.values()
                  if c.device_id == device_id and (automatic or not c.automatic)]
        chosen.sort(key=lambda c: (c.created_ms, c.command_id), reverse=True)
        return _copies(chosen[:max(limit, 0)])

    # -- dead letters ---------------------------------------------------------------------------

    async def list_dead_letters(self, limit: int = 100,
                                device_id: str | None = None) -> list[StoredDeadLetter]:
        self._check()
        chosen = [
            (key, d) for key, d in self.dead_letters.items()
            if device_id is None or d.device_id == device_id
        ]
        chosen.sort(key=lambda item: (item[1].received_ms, item[0]), reverse=True)
        return [
            StoredDeadLetter(id=key, received_ms=d.received_ms, topic=d.topic,
                             device_id=d.device_id, reason=d.reason,
                             payload_preview=payload_preview(d.payload), size=d.size)
            for key, d in chosen[:max(limit, 0)]
        ]

    async def count_dead_letters_by_reason(self) -> dict[str, int]:
        self._check()
        counts: dict[str, int] = {}
        for letter in self.dead_letters.values():
            category = reason_category(letter.reason)
            counts[category] = counts.get(category, 0) + 1
        return counts

    # -- housekeeping ---------------------------------------------------------------------------

    async def maintain(self, now_ms: int, *, retention_days: int | None = None,
                       days_ahead: int = 3) -> None:
        """Forget telemetry and dead letters older than the retention (no partitions here;
        ``days_ahead`` is accepted for the same call as PostgresStore.maintain)."""
        self._check()
        del days_ahead
        days = self.retention_days if retention_days is None else retention_days
        cutoff = now_ms - days * _MS_PER_DAY
        self.telemetry = [r for r in self.telemetry if r.ts_ms >= cutoff]
        self._samples = {(r.device_id, r.metric, r.ts_ms) for r in self.telemetry}
        self.dead_letters = {k: d for k, d in self.dead_letters.items()
                             if d.received_ms >= cutoff}


def _clear(alarm: Alarm, at_ms: int, by: str) -> None:
    alarm.status = AlarmStatus.CLEARED
    alarm.cleared_ms = at_ms
    alarm.cleared_by = by
    alarm.updated_ms = max(alarm.updated_ms, at_ms)


def _stored_command(command: CommandRecord) -> CommandRecord:
    stored = _copy(command)
    stored.params = scrub_json(stored.params)
    stored.requested_by = scrub_text(stored.requested_by)
    stored.result = None if stored.result is None else scrub_json(stored.result)
    stored.error = None if stored.error is None else scrub_json(stored.error)
    return stored


def _copies(items: Iterable[_T]) -> list[_T]:
    return [_copy(i) for i in items]
