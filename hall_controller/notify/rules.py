"""Who is told what, and when: pure rules, no clock and no I/O.

- ``validate_*``: what an admin enters is refused with the field and a stable code.
- ``on_call``: the rota at an instant (an override for that site and day wins over the
  weekly shifts).
- ``recipients_at_level``: level 0 is the on-call person and the watchers, then the
  supervisors, then the facilities managers; each filtered by site and severity.
- ``covering_window``: the maintenance window that holds an alarm's notifications.
- ``EscalationPolicy``: when an unacknowledged alarm goes to the next level.
- ``AckLinks``: the signed, expiring link that acknowledges one alarm.
- ``render_alarm`` / ``render_digest``: the message text, zh-CN or English.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from devices.contract import is_valid_device_id
from hall_controller.fleet.model import Alarm, AlarmSeverity
from hall_controller.notify.model import (
    LEVEL_ROLES,
    MAX_LEVEL,
    SEVERITY_RANK,
    Channel,
    MaintenanceWindow,
    OutgoingMessage,
    Override,
    Recipient,
    RecipientDraft,
    Shift,
)

MINUTES_PER_DAY = 24 * 60
MAX_NAME = 100
MAX_SITES = 50
_EMAIL = re.compile(r"^[^@\s<>,;\"\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
_PHONE = re.compile(r"^\+?[0-9]{5,20}$")
_USER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")   # WeCom / DingTalk user ids, platform ids
_SITE = re.compile(r"^[^\x00-\x1f]{1,128}$")
ADDRESS_FIELD: dict[Channel, str] = {
    Channel.EMAIL: "email", Channel.WECOM: "wecom_user", Channel.DINGTALK: "dingtalk_user",
    Channel.SMS: "phone", Channel.WEBHOOK: "platform_user"}


class InvalidNotifyInput(ValueError):
    """Refused input: ``field`` names what is wrong, ``code`` is stable for programs."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


def validate_recipient(draft: RecipientDraft) -> RecipientDraft:
    name = draft.name.strip()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise InvalidNotifyInput("name", "invalid_name",
                                 f"a name is 1 to {MAX_NAME} printable characters")
    if not draft.channels:
        raise InvalidNotifyInput("channels", "no_channel", "choose at least one channel")
    if len(set(draft.channels)) != len(draft.channels):
        raise InvalidNotifyInput("channels", "duplicate_channel", "a channel is listed twice")
    checks = {"email": _EMAIL, "wecom_user": _USER_ID, "dingtalk_user": _USER_ID,
              "phone": _PHONE, "platform_user": _USER_ID}
    for name_of_field, pattern in checks.items():
        value = getattr(draft, name_of_field)
        if value and not pattern.fullmatch(value):
            raise InvalidNotifyInput(name_of_field, f"invalid_{name_of_field}",
                                     f"{name_of_field} {value!r} is not a valid address")
    for channel in draft.channels:
        if not getattr(draft, ADDRESS_FIELD[channel]):
            raise InvalidNotifyInput(ADDRESS_FIELD[channel], "missing_address",
                                     f"the {channel.value} channel needs "
                                     f"{ADDRESS_FIELD[channel]}")
    if len(draft.sites) > MAX_SITES or not all(_SITE.fullmatch(s) for s in draft.sites):
        raise InvalidNotifyInput("sites", "invalid_site",
                                 f"at most {MAX_SITES} sites, each 1 to 128 characters")
    if draft.locale not in ("zh", "en"):
        raise InvalidNotifyInput("locale", "invalid_locale", "locale is zh or en")
    return draft


def validate_shift(shift: Shift) -> Shift:
    if not 0 <= shift.weekday <= 6:
        raise InvalidNotifyInput("weekday", "invalid_weekday", "weekday is 0 (Monday) to 6")
    _check_minutes(shift.start_minute, shift.end_minute)
    _check_site(shift.site)
    return shift


def validate_override(override: Override) -> Override:
    try:
        date.fromisoformat(override.day)
    except ValueError:
        raise InvalidNotifyInput("day", "invalid_day", "day is a date, YYYY-MM-DD") from None
    _check_minutes(override.start_minute, override.end_minute)
    _check_site(override.site)
    if len(override.note) > 200 or _has_control(override.note):
        raise InvalidNotifyInput("note", "invalid_note",
                                 "a note is at most 200 printable characters")
    return override


def validate_window(window: MaintenanceWindow) -> MaintenanceWindow:
    if bool(window.device_id) == bool(window.site):
        raise InvalidNotifyInput("device_id", "device_or_site",
                                 "a maintenance window covers one device or one site")
    if window.device_id and not is_valid_device_id(window.device_id):
        raise InvalidNotifyInput("device_id", "invalid_device_id",
                                 f"{window.device_id!r} is not a device id")
    _check_site(window.site)
    if window.ends_ms <= window.starts_ms:
        raise InvalidNotifyInput("ends_ms", "ends_before_start",
                                 "a maintenance window ends after it starts")
    if window.ends_ms - window.starts_ms > 31 * 24 * 3600_000:
        raise InvalidNotifyInput("ends_ms", "window_too_long",
                                 "a maintenance window lasts at most 31 days")
    if not window.reason.strip() or len(window.reason) > 200 or _has_control(window.reason):
        raise InvalidNotifyInput("reason", "invalid_reason",
                                 "say why, in 1 to 200 characters")
    return window


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _check_minutes(start: int, end: int) -> None:
    if not 0 <= start < MINUTES_PER_DAY:
        raise InvalidNotifyInput("start_minute", "invalid_start",
                                 "start_minute is 0 to 1439 (minutes after local midnight)")
    if not start < end <= start + MINUTES_PER_DAY:
        raise InvalidNotifyInput("end_minute", "invalid_end",
                                 "end_minute is after start_minute, at most a day later")


def _check_site(site: str) -> None:
    if site and not _SITE.fullmatch(site):
        raise InvalidNotifyInput("site", "invalid_site", "a site is 1 to 128 characters")


def on_call(shifts: Iterable[Shift], overrides: Iterable[Override], site: str, at_ms: int,
            zone: ZoneInfo) -> list[int]:
    """The recipients on call for ``site`` at ``at_ms``. A shift or override with no site
    covers every site. For a day that has overrides (for that site, or for every site), the
    overrides replace the weekly shifts; a shift may run past midnight into the next day."""
    local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(zone)
    today, minute = local.date(), local.hour * 60 + local.minute
    yesterday = today - timedelta(days=1)
    overrides = [o for o in overrides if o.site in ("", site)]
    found: list[int] = []
    for day, offset in ((today, 0), (yesterday, MINUTES_PER_DAY)):
        todays = [o for o in overrides if o.day == day.isoformat()]
        if todays:
            found += [o.recipient_id for o in todays
                      if o.start_minute <= minute + offset < o.end_minute]
            continue
        found += [s.recipient_id for s in shifts
                  if s.site in ("", site) and s.weekday == day.weekday()
                  and s.start_minute <= minute + offset < s.end_minute]
    return list(dict.fromkeys(found))


def matches(recipient: Recipient, site: str, severity: AlarmSeverity) -> bool:
    return (recipient.active and (not recipient.sites or site in recipient.sites)
            and SEVERITY_RANK[severity] >= SEVERITY_RANK[recipient.min_severity])


def recipients_at_level(level: int, recipients: Sequence[Recipient], on_call_ids: Sequence[int],
                        site: str, severity: AlarmSeverity) -> list[Recipient]:
    """Who hears about an alarm at ``level``. The on-call person needs no role match (the rota
    put them there), but must be active."""
    roles = LEVEL_ROLES[level]
    by_id = {r.id: r for r in recipients}
    chosen = [by_id[i] for i in on_call_ids if i in by_id and by_id[i].active] if level == 0 \
        else []
    chosen += [r for r in recipients if r.role in roles and r.role.value != "oncall"
               and matches(r, site, severity)]
    return list({r.id: r for r in chosen}.values())


def covering_window(windows: Iterable[MaintenanceWindow], device_id: str, site: str,
                    at_ms: int) -> MaintenanceWindow | None:
    for window in windows:
        if window.starts_ms <= at_ms < window.ends_ms and (
                window.device_id == device_id or (window.site and window.site == site)):
            return window
    return None


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """``after_s[severity]``: seconds after the alarm was raised at which each further level
    is told if it is still unacknowledged (``[300, 900]``: the supervisor after 5 min, the
    facilities manager after 15). Empty: no escalation."""

    after_s: Mapping[AlarmSeverity, Sequence[float]] = field(default_factory=dict)

    def next_step_ms(self, severity: AlarmSeverity, raised_ms: int, level: int) -> int | None:
        """When the level after ``level`` is due, or None when there is none."""
        steps = self.after_s.get(severity, ())
        if level >= min(len(steps), MAX_LEVEL):
            return None
        return raised_ms + int(steps[level] * 1000)


class AckLinks:
    """Signed, expiring tokens that acknowledge one alarm, for one recipient:
    ``<alarm>.<recipient>.<expires_ms>.<signature>``; the signature is an HMAC-SHA256 over
    the rest, keyed with the hall's secret, so a token for one alarm acknowledges no other."""

    def __init__(self, secret: bytes, ttl_s: float) -> None:
        if len(secret) < 32:
            raise ValueError("the acknowledgement link secret needs at least 32 bytes")
        self._secret = secret
        self.ttl_ms = int(ttl_s * 1000)

    def _mac(self, alarm_id: int, recipient_id: int, expires_ms: int) -> str:
        text = f"alarm-ack:v1:{alarm_id}:{recipient_id}:{expires_ms}".encode()
        digest = hmac.new(self._secret, text, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def token(self, alarm_id: int, recipient_id: int, now_ms: int) -> str:
        expires = now_ms + self.ttl_ms
        return f"{alarm_id}.{recipient_id}.{expires}.{self._mac(alarm_id, recipient_id, expires)}"

    def verify(self, token: str, now_ms: int) -> tuple[int, int]:
        """(alarm id, recipient id); raises InvalidNotifyInput ``invalid_link`` or
        ``expired_link``."""
        parts = token.split(".")
        # Digits only (ASCII: "²" is a digit to isdigit), and ids that fit PostgreSQL's bigint.
        if len(parts) != 4 or not all(p.isascii() and p.isdigit() and len(p) <= 18
                                      for p in parts[:3]):
            raise InvalidNotifyInput("token", "invalid_link", "this link is not valid")
        alarm_id, recipient_id, expires = (int(p) for p in parts[:3])
        # Bytes: compare_digest refuses str holding anything but ASCII (a forged token may).
        if not hmac.compare_digest(self._mac(alarm_id, recipient_id, expires).encode(),
                                   parts[3].encode()):
            raise InvalidNotifyInput("token", "invalid_link", "this link is not valid")
        if now_ms >= expires:
            raise InvalidNotifyInput("token", "expired_link",
                                     "this link has expired; acknowledge on the dashboard")
        return alarm_id, recipient_id


_SEVERITY_WORDS = {
    "zh": {"critical": "严重", "major": "重要", "minor": "次要", "warning": "提示"},
    "en": {"critical": "CRITICAL", "major": "MAJOR", "minor": "minor", "warning": "warning"},
}
_TYPE_WORDS = {
    "zh": {"door.forced": "门被强行打开", "door.held_open": "门长时间未关",
           "device.offline": "设备离线", "device.kind_mismatch": "设备类型与登记不符",
           "lock.tamper": "门锁被拆动", "lock.battery_low": "门锁电量低",
           "printer.paper_near_end": "打印纸将尽", "printer.paper_out": "打印机缺纸",
           "printer.print_failed": "打印失败", "printer.jam": "打印机卡纸",
           "hardware.fault": "硬件故障", "auth.lockout": "登录被锁定",
           "access.suspicious_grant": "可疑的开门授权", "access.policy_refused": "设备拒绝门禁策略",
           "controller.internal_error": "控制器内部错误"},
    "en": {"door.forced": "door forced open", "door.held_open": "door held open",
           "device.offline": "device offline", "device.kind_mismatch": "device kind mismatch",
           "lock.tamper": "lock tampered with", "lock.battery_low": "lock battery low",
           "printer.paper_near_end": "printer paper nearly out",
           "printer.paper_out": "printer out of paper", "printer.print_failed": "print failed",
           "printer.jam": "printer jam", "hardware.fault": "hardware fault",
           "auth.lockout": "login locked out", "access.suspicious_grant": "suspicious access grant",
           "access.policy_refused": "device refused its access policy",
           "controller.internal_error": "controller internal error"},
}
_TEXT = {
    "zh": {"device": "设备", "site": "位置", "raised": "发生时间", "count": "次数",
           "level": "升级级别", "ack": "确认告警（停止升级）", "escalated": "【升级】",
           "digest": "次要告警汇总：{n} 条", "details": "详情"},
    "en": {"device": "Device", "site": "Site", "raised": "Raised", "count": "Count",
           "level": "Escalation level", "ack": "Acknowledge (stops escalation)",
           "escalated": "[ESCALATED] ", "digest": "Digest of minor alarms: {n}",
           "details": "Details"},
}


def alarm_title(alarm: Alarm, locale: str) -> str:
    words = _TYPE_WORDS.get(locale, _TYPE_WORDS["en"])
    return words.get(alarm.type, alarm.type)


def _local(at_ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(zone).strftime(
        "%Y-%m-%d %H:%M:%S")


def render_alarm(alarm: Alarm, site: str, locale: str, level: int, *, link: str,
                 zone: ZoneInfo) -> tuple[str, str]:
    """(subject, text) of the message about ``alarm`` for a reader of ``locale``."""
    words = _TEXT.get(locale, _TEXT["en"])
    severity = _SEVERITY_WORDS.get(locale, _SEVERITY_WORDS["en"])[alarm.severity.value]
    prefix = words["escalated"] if level > 0 else ""
    subject = f"{prefix}[{severity}] {alarm_title(alarm, locale)} — {alarm.device_id}"
    lines = [subject, f"{words['device']}: {alarm.device_id}"]
    if site:
        lines.append(f"{words['site']}: {site}")
    lines.append(f"{words['raised']}: {_local(alarm.raised_ms, zone)}")
    if alarm.count > 1:
        lines.append(f"{words['count']}: {alarm.count}")
    if level > 0:
        lines.append(f"{words['level']}: {level}")
    if alarm.details:
        shown = ", ".join(f"{k}={v}" for k, v in list(alarm.details.items())[:8])
        lines.append(f"{words['details']}: {shown[:300]}")
    if link:
        lines.append(f"{words['ack']}: {link}")
    return subject, "\n".join(lines)


def render_digest(alarms: Sequence[tuple[Alarm, str]], locale: str,
                  zone: ZoneInfo) -> tuple[str, str]:
    """(subject, text) of one digest listing ``alarms`` (alarm, site)."""
    words = _TEXT.get(locale, _TEXT["en"])
    severity = _SEVERITY_WORDS.get(locale, _SEVERITY_WORDS["en"])
    subject = words["digest"].format(n=len(alarms))
    lines = [subject]
    for alarm, site in alarms[:100]:
        where = f" @ {site}" if site else ""
        lines.append(f"- {_local(alarm.raised_ms, zone)} [{severity[alarm.severity.value]}] "
                     f"{alarm_title(alarm, locale)} — {alarm.device_id}{where}")
    if len(alarms) > 100:
        lines.append(f"… +{len(alarms) - 100}")
    return subject, "\n".join(lines)


def messages_for(recipient: Recipient, subject: str, text: str, link: str,
                 configured: Iterable[Channel]) -> list[OutgoingMessage]:
    """One message per channel of the recipient that the hall has configured."""
    usable = set(configured)
    return [OutgoingMessage(channel, getattr(recipient, ADDRESS_FIELD[channel]), subject, text,
                            link)
            for channel in recipient.channels if channel in usable]
