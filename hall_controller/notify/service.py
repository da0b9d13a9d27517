"""Alarm notification: the first message, escalation, digests, and acknowledgement by link.

The invariant: every alarm is handled once (``TrackStore.start_track``: two controllers, or a
restart's catch-up, cannot both notify it), and every step — a message queued, an
escalation, a hold for maintenance or flapping, a digest, the stop — is written to the
alarm's history in the same transaction as the deliveries it queues. Delivering is the
``DeliveryDispatcher``'s job (``dispatch.py``), from the database, with retries.

Heard from ``AlarmService`` (``subscribe``) in this process; alarms raised by another
controller, or while this one was down, are found by the catch-up sweep. Escalation reads the
alarm from the store before each step, so an acknowledgement on any controller stops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from devices.contract import now_ms
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.model import Alarm, AlarmSeverity, AlarmStatus
from hall_controller.fleet.ports import AlarmStore
from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.notify.model import (
    MAX_LEVEL,
    AlarmTrack,
    Channel,
    Delivery,
    DeliveryStatus,
    HistoryEntry,
    HistoryKind,
    PlannedMessage,
    Recipient,
    TrackStatus,
)
from hall_controller.notify.ports import NotifyStore
from hall_controller.notify.rules import (
    AckLinks,
    EscalationPolicy,
    covering_window,
    messages_for,
    on_call,
    recipients_at_level,
    render_alarm,
    render_digest,
)

logger = logging.getLogger(__name__)

SiteOf = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """How the notifier behaves (``[notify]`` in config.toml)."""

    timezone: ZoneInfo
    escalation: EscalationPolicy = field(default_factory=EscalationPolicy)
    public_url: str = ""                 # where ack links point; empty: no links
    digest_severities: frozenset[AlarmSeverity] = frozenset(
        {AlarmSeverity.MINOR, AlarmSeverity.WARNING})
    digest_interval_s: float = 900.0
    flapping_window_s: float = 600.0
    flapping_threshold: int = 4          # this many alarms of a (device, type) in the window
    tick_s: float = 1.0                  # how often due escalations are looked for
    catch_up_s: float = 600.0            # untracked alarms younger than this are handled
    catch_up_interval_s: float = 30.0
    # Alarm types told only if still active (and unacknowledged) this long after being
    # raised: a device that reboots or roams comes back within it, and nobody is woken.
    grace_s: Mapping[str, float] = field(default_factory=lambda: {"device.offline": 60.0})


class NotificationService:
    """Decides who hears of an alarm and when; see the module docstring."""

    def __init__(self, store: NotifyStore, alarms: AlarmService, alarm_store: AlarmStore,
                 settings: NotifySettings, *,
                 channels: Collection[Channel], links: AckLinks | None, site_of: SiteOf,
                 wake_dispatcher: Callable[[], None] = lambda: None,
                 clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._alarms = alarms
        self._alarm_store = alarm_store
        self.settings = settings
        self.channels = frozenset(channels)
        self.links = links
        self._site_of = site_of
        self._wake_dispatcher = wake_dispatcher
        self._clock = clock
        # Alarm changes heard in this process, handled in order by ``run``. Alarms are few
        # (one per device and type while active) and each is handled in milliseconds.
        self._heard: asyncio.Queue[Alarm] = asyncio.Queue()
        # When this controller started: devices that went offline while it was down get
        # their grace again from here, so they can reconnect before anyone is told.
        self.started_ms = 0

    def heard(self, alarm: Alarm) -> None:
        """``AlarmService`` listener: raised, bumped, acknowledged or cleared."""
        self._heard.put_nowait(alarm)

    async def run(self) -> None:
        """Handle alarm changes, due escalations, digests and the catch-up until cancelled."""
        self.started_ms = self._clock()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._handle_heard(), name="notify-alarms")
            tasks.create_task(self._every(self.settings.tick_s, self.escalate_due),
                              name="notify-escalation")
            tasks.create_task(self._every(self.settings.digest_interval_s, self.send_digest),
                              name="notify-digest")
            tasks.create_task(self._every(self.settings.catch_up_interval_s, self.catch_up,
                                          first=True), name="notify-catch-up")

    async def _handle_heard(self) -> None:
        while True:
            alarm = await self._heard.get()
            try:
                await self.on_alarm(alarm)
            except Exception:
                # Loop boundary: the catch-up sweep finds an alarm whose start failed here.
                logger.exception("notifying alarm %s failed", alarm.id,
                                 extra={"alarm_id": alarm.id})

    async def _every(self, interval_s: float, step: Callable[[], object], *,
                     first: bool = False) -> None:
        if not first:
            await asyncio.sleep(interval_s)
        while True:
            try:
                await step()  # type: ignore[misc]
            except Exception:
                logger.exception("notification step %s failed; will retry",
                                 getattr(step, "__name__", step))
            await asyncio.sleep(interval_s)

    async def on_alarm(self, alarm: Alarm) -> None:
        if alarm.acknowledged or alarm.status is AlarmStatus.CLEARED:
            reason = "acknowledged" if alarm.acknowledged else "cleared"
            by = alarm.acked_by if alarm.acknowledged else alarm.cleared_by
            await self._store.stop(alarm.id, HistoryEntry(
                alarm.id, self._clock(), HistoryKind.STOPPED, details={"reason": reason,
                                                                        "by": by or ""}))
            return
        await self.start(alarm)

    async def start(self, alarm: Alarm) -> bool:
        """Handle a new alarm once: hold it (maintenance), queue it for the digest (minor,
        flapping), or tell level 0. False when it was handled already."""
        if await self._store.get_track(alarm.id) is not None:
            return False   # a bump of an alarm already handled (most repeats end here)
        now = self._clock()
        site = self._site_of(alarm.device_id)
        track = AlarmTrack(alarm.id, alarm.device_id, alarm.type, alarm.severity, site,
                           alarm.raised_ms, TrackStatus.NOTIFYING)
        s = self.settings
        recent = await self._store.count_tracks(alarm.device_id, alarm.type,
                                                now - int(s.flapping_window_s * 1000))
        window = covering_window(await self._store.list_windows(now), alarm.device_id, site,
                                 max(alarm.raised_ms, now))
        if window is not None:
            track.status, track.reason = TrackStatus.MAINTENANCE, window.reason
            entry = HistoryEntry(alarm.id, now, HistoryKind.MAINTENANCE,
                                 details={"window_id": window.id, "reason": window.reason})
            return await self._begin(track, [], [entry], now)
        if recent + 1 >= s.flapping_threshold or alarm.severity in s.digest_severities:
            flapping = recent + 1 >= s.flapping_threshold
            track.status, track.digest_pending = TrackStatus.DIGEST, True
            track.reason = "flapping" if flapping else "digest"
            kind = HistoryKind.FLAPPING if flapping else HistoryKind.DIGEST_QUEUED
            details = {"recent": recent + 1, "window_s": s.flapping_window_s} if flapping else {}
            return await self._begin(track, [], [HistoryEntry(alarm.id, now, kind,
                                                              details=details)], now)
        grace = s.grace_s.get(alarm.type, 0.0)
        if grace > 0:
            # Level -1: the escalation job tells level 0 when the grace is over, unless the
            # alarm cleared (or was acknowledged) meanwhile.
            track.level, track.next_step_ms = -1, alarm.raised_ms + int(grace * 1000)
            return await self._begin(track, [], [HistoryEntry(
                alarm.id, now, HistoryKind.GRACE, level=-1, details={"grace_s": grace})], now)
        planned, history = await self._plan_level(alarm, track, 0, now)
        return await self._begin(track, planned, history, now)

    async def _begin(self, track: AlarmTrack, planned: Sequence[PlannedMessage],
                     history: Sequence[HistoryEntry], now: int) -> bool:
        # The track's primary key decides: a second controller that hears of the same alarm
        # writes nothing; the messages and history go in with the track, or not at all.
        if await self._store.start_track(track, planned, history, now) is None:
            return False
        logger.info("alarm %s: %s (%d messages)", track.alarm_id, track.status.value,
                    len(planned), extra={"alarm_id": track.alarm_id})
        if planned:
            self._wake_dispatcher()
        return True

    async def _plan_level(self, alarm: Alarm, track: AlarmTrack, level: int,
                          now: int) -> tuple[list[PlannedMessage], list[HistoryEntry]]:
        """The messages of ``level`` (sets the track's level and next step); a level with
        nobody on it is skipped at once to the next."""
        history: list[HistoryEntry] = []
        recipients = await self._recipients(level, track, now)
        while not recipients and level < MAX_LEVEL:
            history.append(HistoryEntry(alarm.id, now, HistoryKind.NO_RECIPIENT, level=level))
            level += 1
            recipients = await self._recipients(level, track, now)
        if level > 0:
            history.append(HistoryEntry(alarm.id, now, HistoryKind.ESCALATED, level=level))
        planned = [p for r in recipients for p in self._messages(alarm, track.site, r, level,
                                                                 now)]
        track.level = level
        track.next_step_ms = self.settings.escalation.next_step_ms(alarm.severity,
                                                                   alarm.raised_ms, level)
        if not recipients:
            history.append(HistoryEntry(alarm.id, now, HistoryKind.NO_RECIPIENT, level=level))
        if track.next_step_ms is None:
            track.status = TrackStatus.DONE
            if level > 0:   # the ladder's end (a severity that never escalates has none)
                history.append(HistoryEntry(alarm.id, now, HistoryKind.EXHAUSTED,
                                            level=level))
        return planned, history

    async def _recipients(self, level: int, track: AlarmTrack, now: int) -> list[Recipient]:
        recipients = await self._store.list_recipients()
        today = _day_before(now, self.settings.timezone)
        on_call_ids = on_call(await self._store.list_shifts(),
                              await self._store.list_overrides(today), track.site, now,
                              self.settings.timezone) if level == 0 else []
        return recipients_at_level(level, recipients, on_call_ids, track.site, track.severity)

    def _messages(self, alarm: Alarm, site: str, recipient: Recipient, level: int,
                  now: int) -> list[PlannedMessage]:
        link = self.ack_link(alarm.id, recipient.id, now)
        subject, text = render_alarm(alarm, site, recipient.locale, level, link=link,
                                     zone=self.settings.timezone)
        purpose = "escalation" if level else "alarm"
        return [PlannedMessage(m, recipient.id, (alarm.id,), purpose, level)
                for m in messages_for(recipient, subject, text, link, self.channels)]

    def ack_link(self, alarm_id: int, recipient_id: int, now: int) -> str:
        if self.links is None or not self.settings.public_url:
            return ""
        token = self.links.token(alarm_id, recipient_id, now)
        return f"{self.settings.public_url.rstrip('/')}/pages/alarm-ack.html#{token}"

    async def escalate_due(self) -> int:
        """Take each due track one level up, or stop it when its alarm was acknowledged or
        cleared meanwhile. Returns how many were looked at."""
        now = self._clock()
        due = await self._store.claim_due_steps(now, lease_ms=60_000, limit=50)
        for track in due:
            alarm = await self._alarms_get(track.alarm_id)
            if alarm is None or alarm.acknowledged or alarm.status is AlarmStatus.CLEARED:
                reason = "cleared" if alarm is None or not alarm.acknowledged else "acknowledged"
                track.status, track.next_step_ms = TrackStatus.DONE, None
                by = "" if alarm is None else (alarm.acked_by or alarm.cleared_by or "")
                await self._store.advance(track, [], [HistoryEntry(
                    track.alarm_id, now, HistoryKind.STOPPED,
                    details={"reason": reason, "by": by})], now)
                continue
            if track.level < 0:
                restart_grace = self.started_ms + int(
                    self.settings.grace_s.get(track.type, 0.0) * 1000)
                if now < restart_grace:
                    track.next_step_ms = restart_grace
                    await self._store.advance(track, [], [], now)
                    continue
            planned, history = await self._plan_level(alarm, track, track.level + 1, now)
            await self._store.advance(track, planned, history, now)
            logger.warning("alarm %s unacknowledged: told level %s", alarm.id,
                           track.level, extra={"alarm_id": alarm.id, "level": track.level})
        if due:
            self._wake_dispatcher()
        return len(due)

    async def _alarms_get(self, alarm_id: int) -> Alarm | None:
        return await self._alarm_store.get_alarm(alarm_id)

    async def send_digest(self) -> int:
        """One message per recipient listing the alarms waiting for the digest."""
        now = self._clock()
        waiting = await self._store.claim_digest(now, lease_ms=600_000, limit=500)
        by_recipient: dict[int, tuple[Recipient, list[tuple[Alarm, str]]]] = {}
        for track in waiting:
            alarm = await self._alarms_get(track.alarm_id)
            if alarm is None:
                continue
            for recipient in await self._recipients(0, track, now):
                by_recipient.setdefault(recipient.id, (recipient, []))[1].append(
                    (alarm, track.site))
        for recipient, items in by_recipient.values():
            subject, text = render_digest(items, recipient.locale, self.settings.timezone)
            alarm_ids = tuple(a.id for a, _ in items)
            for message in messages_for(recipient, subject, text, "", self.channels):
                await self._store.queue_message(PlannedMessage(
                    message, recipient.id, alarm_ids, "digest", 0, HistoryKind.DIGESTED), now)
        await self._store.finish_digest([t.alarm_id for t in waiting])
        if by_recipient:
            self._wake_dispatcher()
        return len(waiting)

    async def catch_up(self) -> int:
        """Handle active, unacknowledged alarms raised in the last ``catch_up_s`` that no
        controller has handled (raised elsewhere, or while this one was stopping)."""
        now = self._clock()
        active = await self._alarm_store.list_alarms(status=AlarmStatus.ACTIVE,
                                                     acknowledged=False, limit=500)
        young = [a for a in active if not a.acknowledged
                 and a.raised_ms >= now - int(self.settings.catch_up_s * 1000)]
        done = await self._store.tracked([a.id for a in young])
        started = 0
        for alarm in young:
            if alarm.id not in done:
                started += await self.start(alarm)
        return started

    async def send_test(self, recipient_id: int, by: str) -> list[int]:
        """A test message to each channel of a recipient (the delivery log shows how it
        went); NotFound for an unknown recipient, Conflict when none of its channels is
        configured."""
        recipients = {r.id: r for r in await self._store.list_recipients()}
        recipient = recipients.get(recipient_id)
        if recipient is None:
            raise NotFound(f"unknown recipient {recipient_id}")
        zh = recipient.locale == "zh"
        subject = "校园服务大厅：测试消息" if zh else "Campus hall: test message"
        text = (f"{subject}\n由 {by} 发送。收到即说明此渠道可用。" if zh
                else f"{subject}\nSent by {by}. Receiving it means this channel works.")
        messages = messages_for(recipient, subject, text, "", self.channels)
        if not messages:
            raise Conflict("none of this recipient's channels is configured in [notify]")
        now = self._clock()
        ids = [await self._store.queue_message(PlannedMessage(m, recipient.id, (), "test"), now)
               for m in messages]
        self._wake_dispatcher()
        return ids

    # -- acknowledgement by link
    async def link_alarm(self, token: str) -> tuple[Alarm, int]:
        """The alarm a link acknowledges, and its recipient; raises InvalidNotifyInput."""
        alarm_id, recipient_id = self._links().verify(token, self._clock())
        alarm = await self._alarms_get(alarm_id)
        if alarm is None:
            raise Conflict("this alarm no longer exists")
        return alarm, recipient_id

    async def acknowledge_by_link(self, token: str) -> Alarm:
        alarm, recipient_id = await self.link_alarm(token)
        recipients = {r.id: r for r in await self._store.list_recipients()}
        who = recipients[recipient_id].name if recipient_id in recipients else str(recipient_id)
        return await self._alarms.acknowledge(alarm.id, f"link:{who}"[:100])

    def _links(self) -> AckLinks:
        if self.links is None:
            raise Conflict("acknowledgement links are not set up")
        return self.links

    async def history(self, alarm_id: int) -> list[HistoryEntry]:
        return await self._store.history(alarm_id)

    async def deliveries(self, *, alarm_id: int | None = None,
                         status: DeliveryStatus | None = None,
                         limit: int = 100) -> list[Delivery]:
        return await self._store.list_deliveries(alarm_id=alarm_id, status=status, limit=limit)

    async def track(self, alarm_id: int) -> AlarmTrack | None:
        return await self._store.get_track(alarm_id)

    async def tracks(self, status: TrackStatus | None = None,
                     limit: int = 200) -> list[AlarmTrack]:
        return await self._store.list_tracks(status, limit)


def _day_before(at_ms: int, zone: ZoneInfo) -> str:
    """Yesterday's local date: a shift or override from yesterday may still run."""
    local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(zone)
    return (local.date() - timedelta(days=1)).isoformat()
