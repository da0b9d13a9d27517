"""What every NotifyStore must do, as tests: run against MemoryNotifyStore (unit) and
PostgresNotifyStore (integration). A test module subclasses ``NotifyStoreContract`` and
provides ``notify_store`` (an empty store) and ``new_alarm`` (makes an alarm, returns its id:
the PostgreSQL tables refer to real alarms)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from hall_controller.fleet.model import AlarmSeverity
from hall_controller.kernel.errors import NotFound
from hall_controller.notify.model import (
    AlarmTrack,
    Channel,
    DeliveryStatus,
    HistoryEntry,
    HistoryKind,
    MaintenanceWindow,
    OutgoingMessage,
    Override,
    PlannedMessage,
    RecipientDraft,
    Role,
    Shift,
    TrackStatus,
)
from hall_controller.notify.ports import NotifyStore

T0 = 1_764_300_000_000
NewAlarm = Callable[[], Awaitable[int]]


def track(alarm_id: int, **kw: object) -> AlarmTrack:
    fields: dict[str, object] = {"device_id": "lock-1", "type": "door.forced",
                                 "severity": AlarmSeverity.CRITICAL, "site": "dorm-north",
                                 "raised_ms": T0, "status": TrackStatus.NOTIFYING}
    fields.update(kw)
    return AlarmTrack(alarm_id, **fields)  # type: ignore[arg-type]


def planned(recipient_id: int, *alarm_ids: int, address: str = "a@campus.edu.cn") -> PlannedMessage:
    return PlannedMessage(OutgoingMessage(Channel.EMAIL, address, "主题", "正文", "https://l"),
                          recipient_id, alarm_ids, "alarm")


class NotifyStoreContract:
    async def test_recipients_round_trip_and_update(self, notify_store: NotifyStore) -> None:
        draft = RecipientDraft("张工", Role.SUPERVISOR, (Channel.EMAIL, Channel.SMS),
                               sites=("hall", "dorm-north"), min_severity=AlarmSeverity.MAJOR,
                               email="z@campus.edu.cn", phone="13800138000", locale="en")
        saved = await notify_store.save_recipient(None, draft, T0, "admin")
        assert saved.id > 0 and saved.updated_by == "admin" and saved.updated_ms == T0
        assert await notify_store.list_recipients() == [saved]
        changed = await notify_store.save_recipient(
            saved.id, RecipientDraft("张工", Role.ONCALL, (Channel.EMAIL,), active=False,
                                     email="z@campus.edu.cn"), T0 + 1, "root")
        assert (changed.role, changed.active, changed.sites) == (Role.ONCALL, False, ())
        with pytest.raises(NotFound):
            await notify_store.save_recipient(999_999, draft, T0, "admin")

    async def test_shifts_and_overrides_need_a_recipient(self, notify_store: NotifyStore) -> None:
        r = await notify_store.save_recipient(None, RecipientDraft(
            "a", Role.ONCALL, (Channel.EMAIL,), email="a@b.cn"), T0, "x")
        shift = await notify_store.add_shift(Shift(r.id, 2, 1080, 1920, site="hall"))
        assert await notify_store.list_shifts() == [shift]
        with pytest.raises(NotFound):
            await notify_store.add_shift(Shift(999_999, 2, 0, 60))
        await notify_store.add_override(Override(r.id, "2026-12-01", 0, 1440))
        later = await notify_store.add_override(Override(r.id, "2026-12-09", 60, 120, note="换班"))
        assert await notify_store.list_overrides("2026-12-05") == [later]
        await notify_store.delete_shift(shift.id)
        with pytest.raises(NotFound):
            await notify_store.delete_shift(shift.id)
        with pytest.raises(NotFound):
            await notify_store.delete_override(999_999)

    async def test_ending_a_window(self, notify_store: NotifyStore) -> None:
        window = await notify_store.add_window(MaintenanceWindow(
            T0, T0 + 3_600_000, "换锁芯", device_id="lock-1", created_by="fac1"))
        assert await notify_store.list_windows(T0) == [window]
        ended = await notify_store.end_window(window.id, T0 + 60_000)
        assert ended.ends_ms == T0 + 60_000
        assert await notify_store.list_windows(T0 + 60_000) == []
        planned_window = await notify_store.add_window(MaintenanceWindow(
            T0 + 10**7, T0 + 2 * 10**7, "later", site="hall"))
        never = await notify_store.end_window(planned_window.id, T0)
        assert never.ends_ms == never.starts_ms + 1
        with pytest.raises(NotFound):
            await notify_store.end_window(999_999, T0)

    async def test_an_alarm_is_tracked_once(self, notify_store: NotifyStore,
                                            new_alarm: NewAlarm) -> None:
        alarm = await new_alarm()
        assert await notify_store.start_track(track(alarm)) == []
        r = await notify_store.save_recipient(None, RecipientDraft(
            "a", Role.ONCALL, (Channel.EMAIL,), email="a@b.cn"), T0, "x")
        again = await notify_store.start_track(
            track(alarm, status=TrackStatus.DIGEST), [planned(r.id, alarm)],
            [HistoryEntry(alarm, T0, HistoryKind.FLAPPING)], T0)
        assert again is None
        assert await notify_store.history(alarm) == []
        assert await notify_store.list_deliveries() == []
        got = await notify_store.get_track(alarm)
        assert got is not None and got.status is TrackStatus.NOTIFYING
        assert await notify_store.tracked([alarm, alarm + 1000]) == {alarm}
        assert await notify_store.count_tracks("lock-1", "door.forced", T0) == 1
        assert await notify_store.count_tracks("lock-1", "door.forced", T0 + 1) == 0

    async def test_advance_writes_track_deliveries_and_history_together(
            self, notify_store: NotifyStore, new_alarm: NewAlarm) -> None:
        alarm = await new_alarm()
        r = await notify_store.save_recipient(None, RecipientDraft(
            "a", Role.ONCALL, (Channel.EMAIL,), email="a@b.cn"), T0, "x")
        current = track(alarm)
        first = await notify_store.start_track(current, [planned(r.id, alarm)], [], T0)
        assert first is not None and len(first) == 1
        current.level, current.next_step_ms = 1, T0 + 60_000
        ids = await notify_store.advance(current, [planned(r.id, alarm)], [HistoryEntry(
            alarm, T0, HistoryKind.ESCALATED, level=1)], T0)
        history = await notify_store.history(alarm)
        assert [(e.kind, e.delivery_id) for e in history] == [
            (HistoryKind.NOTIFIED, first[0]), (HistoryKind.ESCALATED, None),
            (HistoryKind.NOTIFIED, ids[0])]
        delivery, _ = await notify_store.list_deliveries(alarm_id=alarm)
        assert delivery.status is DeliveryStatus.PENDING and delivery.recipient_id == r.id
        assert delivery.message.link == "https://l" and delivery.message.subject == "主题"
        saved = await notify_store.get_track(alarm)
        assert saved is not None and (saved.level, saved.next_step_ms) == (1, T0 + 60_000)

    async def test_due_steps_are_leased(self, notify_store: NotifyStore,
                                        new_alarm: NewAlarm) -> None:
        alarm = await new_alarm()
        await notify_store.start_track(track(alarm, next_step_ms=T0 + 1000))
        assert await notify_store.claim_due_steps(T0, 60_000, 10) == []
        [claimed] = await notify_store.claim_due_steps(T0 + 1000, 60_000, 10)
        assert claimed.alarm_id == alarm
        assert await notify_store.claim_due_steps(T0 + 2000, 60_000, 10) == []   # leased
        assert len(await notify_store.claim_due_steps(T0 + 62_000, 60_000, 10)) == 1

    async def test_stop_only_ends_an_escalating_track(self, notify_store: NotifyStore,
                                                      new_alarm: NewAlarm) -> None:
        escalating, held = await new_alarm(), await new_alarm()
        await notify_store.start_track(track(escalating, next_step_ms=T0))
        await notify_store.start_track(track(held, status=TrackStatus.MAINTENANCE))
        entry = HistoryEntry(escalating, T0, HistoryKind.STOPPED, details={"by": "li"})
        assert await notify_store.stop(escalating, entry)
        assert not await notify_store.stop(escalating, entry)
        assert not await notify_store.stop(held, HistoryEntry(held, T0, HistoryKind.STOPPED))
        assert [e.details for e in await notify_store.history(escalating)] == [{"by": "li"}]
        assert await notify_store.history(held) == []
        assert await notify_store.claim_due_steps(T0 + 10**6, 1000, 10) == []

    async def test_digest_is_claimed_once_and_lists_each_alarm(
            self, notify_store: NotifyStore, new_alarm: NewAlarm) -> None:
        first, second = await new_alarm(), await new_alarm()
        for alarm in (first, second):
            await notify_store.start_track(track(alarm, status=TrackStatus.DIGEST,
                                                 digest_pending=True))
        claimed = await notify_store.claim_digest(T0, 60_000, 10)
        assert {t.alarm_id for t in claimed} == {first, second}
        assert await notify_store.claim_digest(T0 + 1, 60_000, 10) == []      # leased
        # A digest never finished (its controller died) goes out with the next one.
        assert len(await notify_store.claim_digest(T0 + 60_000, 60_000, 10)) == 2
        await notify_store.finish_digest([first, second])
        assert await notify_store.claim_digest(T0 + 10**6, 60_000, 10) == []
        r = await notify_store.save_recipient(None, RecipientDraft(
            "a", Role.ONCALL, (Channel.EMAIL,), email="a@b.cn"), T0, "x")
        digest_id = await notify_store.queue_message(planned(r.id, first, second), T0)
        for alarm in (first, second):
            assert [d.id for d in await notify_store.list_deliveries(alarm_id=alarm)] == [digest_id]

    async def test_deliveries_are_leased_and_attempts_recorded(
            self, notify_store: NotifyStore) -> None:
        r = await notify_store.save_recipient(None, RecipientDraft(
            "a", Role.ONCALL, (Channel.EMAIL,), email="a@b.cn"), T0, "x")
        delivery_id = await notify_store.queue_message(planned(r.id), T0)
        [due] = await notify_store.claim_due_deliveries(T0, 30_000, 10)
        assert due.id == delivery_id and due.attempts == 0
        assert await notify_store.claim_due_deliveries(T0 + 1, 30_000, 10) == []
        await notify_store.record_attempt(delivery_id, T0 + 5, DeliveryStatus.PENDING,
                                          T0 + 5000, "smtp 451")
        assert await notify_store.claim_due_deliveries(T0 + 10, 30_000, 10) == []
        [again] = await notify_store.claim_due_deliveries(T0 + 5000, 30_000, 10)
        assert (again.attempts, again.last_error) == (1, "smtp 451")
        await notify_store.record_attempt(delivery_id, T0 + 5100, DeliveryStatus.DELIVERED,
                                          None, "")
        [done] = await notify_store.list_deliveries(status=DeliveryStatus.DELIVERED)
        assert (done.attempts, done.delivered_ms, done.last_error) == (2, T0 + 5100, "")
        assert await notify_store.list_deliveries(status=DeliveryStatus.PENDING) == []
