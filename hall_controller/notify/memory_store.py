"""``NotifyStore`` in memory: the fake the unit tests run against (same contract as
``postgres_store``, checked by ``tests/support/notify_store_contract.py``)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

from hall_controller.kernel.errors import NotFound
from hall_controller.notify.model import (
    AlarmTrack,
    Delivery,
    DeliveryStatus,
    HistoryEntry,
    MaintenanceWindow,
    Override,
    PlannedMessage,
    Recipient,
    RecipientDraft,
    Shift,
    TrackStatus,
)


class MemoryNotifyStore:
    def __init__(self) -> None:
        self.recipients: dict[int, Recipient] = {}
        self.shifts: dict[int, Shift] = {}
        self.overrides: dict[int, Override] = {}
        self.windows: dict[int, MaintenanceWindow] = {}
        self.tracks: dict[int, AlarmTrack] = {}
        self.leases: dict[int, int] = {}
        self.entries: list[HistoryEntry] = []
        self.deliveries: dict[int, Delivery] = {}
        self.delivery_leases: dict[int, int] = {}
        self._ids = itertools.count(1)

    # -- directory
    async def list_recipients(self) -> list[Recipient]:
        return sorted(self.recipients.values(), key=lambda r: r.id)

    async def save_recipient(self, recipient_id: int | None, draft: RecipientDraft,
                             at_ms: int, by: str) -> Recipient:
        if recipient_id is not None and recipient_id not in self.recipients:
            raise NotFound(f"unknown recipient {recipient_id}")
        rid = recipient_id or next(self._ids)
        fields = {f.name: getattr(draft, f.name) for f in dataclasses.fields(RecipientDraft)}
        recipient = Recipient(**fields, id=rid, updated_ms=at_ms, updated_by=by)
        self.recipients[rid] = recipient
        return recipient

    async def list_shifts(self) -> list[Shift]:
        return sorted(self.shifts.values(), key=lambda s: (s.weekday, s.start_minute, s.id))

    async def add_shift(self, shift: Shift) -> Shift:
        self._need_recipient(shift.recipient_id)
        saved = dataclasses.replace(shift, id=next(self._ids))
        self.shifts[saved.id] = saved
        return saved

    async def delete_shift(self, shift_id: int) -> None:
        if self.shifts.pop(shift_id, None) is None:
            raise NotFound(f"unknown shift {shift_id}")

    async def list_overrides(self, from_day: str) -> list[Override]:
        return sorted((o for o in self.overrides.values() if o.day >= from_day),
                      key=lambda o: (o.day, o.start_minute, o.id))

    async def add_override(self, override: Override) -> Override:
        self._need_recipient(override.recipient_id)
        saved = dataclasses.replace(override, id=next(self._ids))
        self.overrides[saved.id] = saved
        return saved

    async def delete_override(self, override_id: int) -> None:
        if self.overrides.pop(override_id, None) is None:
            raise NotFound(f"unknown override {override_id}")

    async def list_windows(self, ending_after_ms: int) -> list[MaintenanceWindow]:
        return sorted((w for w in self.windows.values() if w.ends_ms > ending_after_ms),
                      key=lambda w: (w.starts_ms, w.id))

    async def add_window(self, window: MaintenanceWindow) -> MaintenanceWindow:
        saved = dataclasses.replace(window, id=next(self._ids))
        self.windows[saved.id] = saved
        return saved

    async def end_window(self, window_id: int, at_ms: int) -> MaintenanceWindow:
        window = self.windows.get(window_id)
        if window is None:
            raise NotFound(f"unknown maintenance window {window_id}")
        if window.ends_ms > at_ms:
            window = dataclasses.replace(window, ends_ms=max(at_ms, window.starts_ms + 1))
            self.windows[window_id] = window
        return window

    def _need_recipient(self, recipient_id: int) -> None:
        if recipient_id not in self.recipients:
            raise NotFound(f"unknown recipient {recipient_id}")

    # -- tracks
    async def start_track(self, track: AlarmTrack, planned: Sequence[PlannedMessage] = (),
                          history: Sequence[HistoryEntry] = (),
                          at_ms: int = 0) -> list[int] | None:
        if track.alarm_id in self.tracks:
            return None
        return await self.advance(track, planned, history, at_ms)

    async def tracked(self, alarm_ids: Sequence[int]) -> set[int]:
        return {i for i in alarm_ids if i in self.tracks}

    async def get_track(self, alarm_id: int) -> AlarmTrack | None:
        track = self.tracks.get(alarm_id)
        return None if track is None else dataclasses.replace(track)

    async def count_tracks(self, device_id: str, type: str, since_ms: int) -> int:
        return sum(1 for t in self.tracks.values()
                   if t.device_id == device_id and t.type == type and t.raised_ms >= since_ms)

    async def advance(self, track: AlarmTrack, planned: Sequence[PlannedMessage],
                      history: Sequence[HistoryEntry], at_ms: int) -> list[int]:
        self.tracks[track.alarm_id] = dataclasses.replace(track)
        self.leases.pop(track.alarm_id, None)
        self.entries.extend(history)
        return [self._queue(p, at_ms) for p in planned]

    def _queue(self, planned: PlannedMessage, at_ms: int) -> int:
        delivery_id = next(self._ids)
        alarm_id = planned.alarm_ids[0] if len(planned.alarm_ids) == 1 else None
        self.deliveries[delivery_id] = Delivery(
            delivery_id, planned.message, planned.recipient_id, alarm_id, planned.purpose,
            DeliveryStatus.PENDING, 0, at_ms, next_attempt_ms=at_ms)
        for aid in planned.alarm_ids:
            self.entries.append(HistoryEntry(
                aid, at_ms, planned.history, planned.level, planned.recipient_id,
                planned.message.channel, delivery_id, {"address": planned.message.address}))
        return delivery_id

    async def queue_message(self, planned: PlannedMessage, at_ms: int) -> int:
        return self._queue(planned, at_ms)

    async def claim_due_steps(self, now_ms: int, lease_ms: int,
                              limit: int) -> list[AlarmTrack]:
        due = [t for t in self.tracks.values()
               if t.status is TrackStatus.NOTIFYING and t.next_step_ms is not None
               and t.next_step_ms <= now_ms and self.leases.get(t.alarm_id, 0) <= now_ms]
        due.sort(key=lambda t: t.next_step_ms or 0)
        for track in due[:limit]:
            self.leases[track.alarm_id] = now_ms + lease_ms
        return [dataclasses.replace(t) for t in due[:limit]]

    async def claim_digest(self, now_ms: int, lease_ms: int, limit: int) -> list[AlarmTrack]:
        waiting = sorted((t for t in self.tracks.values() if t.digest_pending
                          and self.leases.get(t.alarm_id, 0) <= now_ms),
                         key=lambda t: t.alarm_id)[:limit]
        for track in waiting:
            self.leases[track.alarm_id] = now_ms + lease_ms
        return [dataclasses.replace(t) for t in waiting]

    async def finish_digest(self, alarm_ids: Sequence[int]) -> None:
        for alarm_id in alarm_ids:
            self.tracks[alarm_id].digest_pending = False
            self.leases.pop(alarm_id, None)

    async def stop(self, alarm_id: int, entry: HistoryEntry) -> bool:
        track = self.tracks.get(alarm_id)
        if track is None or track.status is not TrackStatus.NOTIFYING:
            return False
        track.status, track.next_step_ms = TrackStatus.DONE, None
        self.entries.append(entry)
        return True

    async def history(self, alarm_id: int) -> list[HistoryEntry]:
        return [e for e in self.entries if e.alarm_id == alarm_id]

    async def list_tracks(self, status: TrackStatus | None, limit: int) -> list[AlarmTrack]:
        tracks = [t for t in self.tracks.values() if status is None or t.status is status]
        tracks.sort(key=lambda t: (t.raised_ms, t.alarm_id), reverse=True)
        return [dataclasses.replace(t) for t in tracks[:limit]]

    # -- deliveries
    async def claim_due_deliveries(self, now_ms: int, lease_ms: int,
                                   limit: int) -> list[Delivery]:
        due = [d for d in self.deliveries.values()
               if d.status is DeliveryStatus.PENDING and (d.next_attempt_ms or 0) <= now_ms
               and self.delivery_leases.get(d.id, 0) <= now_ms]
        due.sort(key=lambda d: (d.next_attempt_ms or 0, d.id))
        for delivery in due[:limit]:
            self.delivery_leases[delivery.id] = now_ms + lease_ms
        return due[:limit]

    async def record_attempt(self, delivery_id: int, at_ms: int, status: DeliveryStatus,
                             next_attempt_ms: int | None, error: str) -> None:
        old = self.deliveries[delivery_id]
        self.deliveries[delivery_id] = dataclasses.replace(
            old, status=status, attempts=old.attempts + 1, next_attempt_ms=next_attempt_ms,
            delivered_ms=at_ms if status is DeliveryStatus.DELIVERED else None,
            last_error=error)
        self.delivery_leases.pop(delivery_id, None)

    async def list_deliveries(self, *, alarm_id: int | None = None,
                              status: DeliveryStatus | None = None,
                              limit: int = 100) -> list[Delivery]:
        found = [d for d in self.deliveries.values()
                 if (alarm_id is None or d.alarm_id == alarm_id
                     or any(e.delivery_id == d.id and e.alarm_id == alarm_id
                            for e in self.entries))
                 and (status is None or d.status is status)]
        found.sort(key=lambda d: (d.created_ms, d.id), reverse=True)
        return found[:limit]
