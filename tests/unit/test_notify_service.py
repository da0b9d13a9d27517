"""The notifier over the in-memory stores with a clock the test moves: first message,
escalation and its stop, maintenance, flapping and the digest, retries."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest

from devices.contract import now_ms
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import AlarmSeverity
from hall_controller.notify.dispatch import DeliveryDispatcher
from hall_controller.notify.memory_store import MemoryNotifyStore
from hall_controller.notify.model import (
    Channel,
    DeliveryStatus,
    HistoryKind,
    MaintenanceWindow,
    OutgoingMessage,
    RecipientDraft,
    Role,
    Shift,
    TrackStatus,
)
from hall_controller.notify.ports import SendFailed
from hall_controller.notify.rules import AckLinks, EscalationPolicy
from hall_controller.notify.service import NotificationService, NotifySettings

T0 = 1_700_000_000_000   # when the directory entries were made


@dataclass
class Clock:
    # The AlarmService stamps alarms with the real clock; the test's clock starts there too,
    # when each test begins.
    now: int = field(default_factory=now_ms)

    def __call__(self) -> int:
        return self.now


@dataclass
class FakeSender:
    channel: Channel = Channel.EMAIL
    sent: list[OutgoingMessage] = field(default_factory=list)
    fail: SendFailed | None = None

    async def send(self, message: OutgoingMessage) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append(message)

    async def aclose(self) -> None:
        return None


@dataclass
class Hall:
    alarms: AlarmService
    store: MemoryNotifyStore
    notifier: NotificationService
    dispatcher: DeliveryDispatcher
    sender: FakeSender
    clock: Clock

    async def deliver(self) -> list[OutgoingMessage]:
        before = len(self.sender.sent)
        await self.dispatcher.run_once()
        return self.sender.sent[before:]

    async def pump(self) -> None:
        """Handle what the AlarmService listener heard (``run`` does this in the hall)."""
        while not self.notifier._heard.empty():
            await self.notifier.on_alarm(self.notifier._heard.get_nowait())


@pytest.fixture
async def hall() -> Hall:
    clock = Clock()
    fleet = MemoryStore()
    alarms = AlarmService(fleet)
    store = MemoryNotifyStore()
    sender = FakeSender()
    dispatcher = DeliveryDispatcher(store, {Channel.EMAIL: sender}, clock=clock)
    settings = NotifySettings(
        timezone=ZoneInfo("UTC"), public_url="https://hall.example.edu",
        escalation=EscalationPolicy({AlarmSeverity.CRITICAL: (60, 180)}),
        flapping_threshold=3)
    notifier = NotificationService(store, alarms, fleet, settings, channels={Channel.EMAIL},
                                   links=AckLinks(b"s" * 32, 3600),
                                   site_of=lambda d: "dorm-north", clock=clock)
    alarms.subscribe(notifier.heard)
    for name, role in (("on-call", Role.ONCALL), ("boss", Role.SUPERVISOR),
                       ("manager", Role.FACILITIES_MANAGER)):
        r = await store.save_recipient(None, RecipientDraft(
            name, role, (Channel.EMAIL,), email=f"{name}@campus.edu.cn"), T0, "admin")
        if role is Role.ONCALL:
            for day in range(7):
                await store.add_shift(Shift(r.id, day, 0, 1440))
    return Hall(alarms, store, notifier, dispatcher, sender, clock)


async def test_critical_alarm_reaches_on_call_then_escalates_until_acknowledged(
        hall: Hall) -> None:
    alarm = await hall.alarms.raise_alarm("lock-1", "door.forced", AlarmSeverity.CRITICAL)
    await hall.pump()
    [first] = await hall.deliver()
    assert first.address == "on-call@campus.edu.cn" and "lock-1" in first.subject
    assert "/pages/alarm-ack.html#" in first.link

    hall.clock.now += 59_000
    assert await hall.notifier.escalate_due() == 0
    hall.clock.now += 2_000
    await hall.notifier.escalate_due()
    [second] = await hall.deliver()
    assert second.address == "boss@campus.edu.cn" and second.subject.startswith("【升级】")

    await hall.alarms.acknowledge(alarm.id, "zhang")
    await hall.pump()
    hall.clock.now += 600_000
    assert await hall.notifier.escalate_due() == 0
    assert await hall.deliver() == []
    kinds = [e.kind for e in await hall.notifier.history(alarm.id)]
    assert kinds == [HistoryKind.NOTIFIED, HistoryKind.ESCALATED, HistoryKind.NOTIFIED,
                     HistoryKind.STOPPED]
    track = await hall.notifier.track(alarm.id)
    assert track is not None and track.status is TrackStatus.DONE


async def test_ack_link_acknowledges_its_alarm_and_stops_escalation(hall: Hall) -> None:
    await hall.alarms.raise_alarm("lock-1", "door.forced", AlarmSeverity.CRITICAL)
    await hall.pump()
    [message] = await hall.deliver()
    token = message.link.split("#", 1)[1]
    acked = await hall.notifier.acknowledge_by_link(token)
    assert acked.acknowledged and acked.acked_by == "link:on-call"
    await hall.pump()
    hall.clock.now += 600_000
    await hall.notifier.escalate_due()
    assert await hall.deliver() == []


async def test_escalation_reads_the_store_so_an_ack_elsewhere_stops_it(hall: Hall) -> None:
    alarm = await hall.alarms.raise_alarm("lock-1", "door.forced", AlarmSeverity.CRITICAL)
    await hall.pump()
    await hall.deliver()
    # Acknowledged on another controller: this one never hears the listener.
    await hall.alarms._store.ack_alarm(alarm.id, hall.clock.now, "li")
    hall.clock.now += 61_000
    await hall.notifier.escalate_due()
    assert await hall.deliver() == []
    assert (await hall.notifier.history(alarm.id))[-1].details == {"reason": "acknowledged",
                                                                   "by": "li"}


async def test_maintenance_window_holds_the_message_and_marks_the_alarm(hall: Hall) -> None:
    start = hall.clock.now
    await hall.store.add_window(MaintenanceWindow(start - 1, start + 3_600_000, "battery swap",
                                                  device_id="lock-1"))
    alarm = await hall.alarms.raise_alarm("lock-1", "door.forced", AlarmSeverity.CRITICAL)
    other = await hall.alarms.raise_alarm("lock-2", "door.forced", AlarmSeverity.CRITICAL)
    await hall.pump()
    sent = await hall.deliver()
    assert [m.address for m in sent] == ["on-call@campus.edu.cn"]
    assert "lock-2" in sent[0].subject
    track = await hall.notifier.track(alarm.id)
    assert track is not None and track.status is TrackStatus.MAINTENANCE
    assert [e.kind for e in await hall.notifier.history(alarm.id)] == [HistoryKind.MAINTENANCE]
    hall.clock.now += 600_000
    await hall.notifier.escalate_due()
    assert all("lock-1" not in m.subject for m in await hall.deliver())
    assert other.id != alarm.id


async def test_flapping_alarm_goes_to_the_digest(hall: Hall) -> None:
    for _ in range(3):
        await hall.alarms.raise_alarm("lock-1", "door.held_open", AlarmSeverity.MAJOR)
        await hall.alarms.clear("lock-1", "door.held_open")
        hall.clock.now += 1_000
    await hall.pump()
    assert len(await hall.deliver()) == 2          # the first two; the third is flapping
    tracks = await hall.notifier.tracks()
    assert tracks[0].status is TrackStatus.DIGEST and tracks[0].reason == "flapping"
    await hall.notifier.send_digest()
    [digest] = await hall.deliver()
    assert "lock-1" in digest.text
    assert HistoryKind.DIGESTED in [e.kind for e in await hall.notifier.history(
        tracks[0].alarm_id)]


async def test_minor_alarms_come_as_one_digest(hall: Hall) -> None:
    await hall.alarms.raise_alarm("kiosk-1", "printer.paper_low", AlarmSeverity.MINOR)
    await hall.alarms.raise_alarm("kiosk-2", "printer.paper_low", AlarmSeverity.MINOR)
    await hall.pump()
    assert await hall.deliver() == []
    await hall.notifier.send_digest()
    [digest] = await hall.deliver()
    assert "kiosk-1" in digest.text and "kiosk-2" in digest.text
    assert await hall.notifier.send_digest() == 0       # each alarm goes out once


async def test_offline_device_is_told_only_if_it_stays_offline(hall: Hall) -> None:
    back = await hall.alarms.raise_alarm("gate-1", "device.offline", AlarmSeverity.MAJOR)
    gone = await hall.alarms.raise_alarm("gate-2", "device.offline", AlarmSeverity.MAJOR)
    await hall.pump()
    assert await hall.deliver() == []                       # the grace (60 s) first
    await hall.alarms.clear("gate-1", "device.offline")     # rebooted: back within it
    await hall.pump()
    hall.clock.now += 61_000
    await hall.notifier.escalate_due()
    [message] = await hall.deliver()
    assert "gate-2" in message.subject and message.address == "on-call@campus.edu.cn"
    assert [e.kind for e in await hall.notifier.history(back.id)] == [
        HistoryKind.GRACE, HistoryKind.STOPPED]
    assert [e.kind for e in await hall.notifier.history(gone.id)] == [
        HistoryKind.GRACE, HistoryKind.NOTIFIED]


async def test_after_a_restart_offline_devices_get_their_grace_again(hall: Hall) -> None:
    await hall.alarms.raise_alarm("gate-3", "device.offline", AlarmSeverity.MAJOR)
    await hall.pump()
    hall.clock.now += 600_000                    # the controller was down for ten minutes
    hall.notifier.started_ms = hall.clock.now    # and starts again now
    await hall.notifier.escalate_due()
    assert await hall.deliver() == []            # its devices may reconnect first
    hall.clock.now += 61_000
    await hall.notifier.escalate_due()
    [message] = await hall.deliver()
    assert "gate-3" in message.subject


async def test_nobody_on_call_goes_straight_to_the_supervisor(hall: Hall) -> None:
    for shift in await hall.store.list_shifts():
        await hall.store.delete_shift(shift.id)
    alarm = await hall.alarms.raise_alarm("lock-1", "door.forced", AlarmSeverity.CRITICAL)
    await hall.pump()
    [message] = await hall.deliver()
    assert message.address == "boss@campus.edu.cn"
    kinds = [e.kind for e in await hall.notifier.history(alarm.id)]
    assert kinds[:2] == [HistoryKind.NO_RECIPIENT, HistoryKind.ESCALATED]


async def test_an_alarm_is_handled_once(hall: Hall) -> None:
    await hall.alarms.raise_alarm("lock-1", "door.forced", AlarmSeverity.CRITICAL)
    await hall.alarms.raise_alarm("lock-1", "door.forced", AlarmSeverity.CRITICAL)  # bumped
    await hall.pump()
    assert await hall.notifier.catch_up() == 0
    assert len(await hall.deliver()) == 1


async def test_retryable_failure_is_retried_and_permanent_one_fails(hall: Hall) -> None:
    hall.sender.fail = SendFailed("smtp 451", retryable=True)
    await hall.alarms.raise_alarm("lock-1", "door.forced", AlarmSeverity.CRITICAL)
    await hall.pump()
    await hall.deliver()
    [delivery] = await hall.store.list_deliveries()
    assert delivery.status is DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.next_attempt_ms is not None and delivery.next_attempt_ms > hall.clock.now
    assert await hall.deliver() == []                     # not due yet
    hall.sender.fail = None
    hall.clock.now = delivery.next_attempt_ms
    assert len(await hall.deliver()) == 1
    [delivery] = await hall.store.list_deliveries()
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 2

    hall.sender.fail = SendFailed("smtp 550 no such user", retryable=False)
    await hall.alarms.raise_alarm("lock-2", "door.forced", AlarmSeverity.CRITICAL)
    await hall.pump()
    await hall.deliver()
    failed = await hall.store.list_deliveries(status=DeliveryStatus.FAILED)
    assert [d.last_error for d in failed] == ["smtp 550 no such user"]


async def test_unacknowledged_alarm_climbs_the_whole_ladder_then_stops(hall: Hall) -> None:
    alarm = await hall.alarms.raise_alarm("lock-1", "door.forced", AlarmSeverity.CRITICAL)
    await hall.pump()
    sent = [m.address for m in await hall.deliver()]
    for after_s in (61, 181):
        hall.clock.now = alarm.raised_ms + after_s * 1000
        await hall.notifier.escalate_due()
        sent += [m.address for m in await hall.deliver()]
    assert sent == ["on-call@campus.edu.cn", "boss@campus.edu.cn", "manager@campus.edu.cn"]
    hall.clock.now += 3_600_000
    assert await hall.notifier.escalate_due() == 0
    kinds = [e.kind for e in await hall.notifier.history(alarm.id)]
    assert kinds[-3:] == [HistoryKind.ESCALATED, HistoryKind.EXHAUSTED, HistoryKind.NOTIFIED]
    track = await hall.notifier.track(alarm.id)
    assert track is not None and (track.status, track.level) == (TrackStatus.DONE, 2)
