"""The notifier's pure rules: who is on call, who hears at each level, maintenance windows,
escalation timing, signed acknowledgement links, and refused input."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hall_controller.fleet.model import Alarm, AlarmSeverity, AlarmStatus
from hall_controller.notify.model import (
    Channel,
    MaintenanceWindow,
    Override,
    Recipient,
    RecipientDraft,
    Role,
    Shift,
)
from hall_controller.notify.rules import (
    AckLinks,
    EscalationPolicy,
    InvalidNotifyInput,
    covering_window,
    on_call,
    recipients_at_level,
    render_alarm,
    validate_recipient,
    validate_window,
)

SH = ZoneInfo("Asia/Shanghai")


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=SH).timestamp() * 1000)


def person(rid: int, role: Role, **kw: object) -> Recipient:
    fields: dict[str, object] = {"name": f"p{rid}", "role": role, "channels": (Channel.EMAIL,),
                                 "email": f"p{rid}@campus.edu.cn"}
    fields.update(kw)
    return Recipient(**fields, id=rid)  # type: ignore[arg-type]


# 2026-12-07 is a Monday.
def test_weekly_shift_and_a_night_shift_past_midnight() -> None:
    shifts = [Shift(1, 0, 8 * 60, 18 * 60), Shift(2, 0, 18 * 60, 32 * 60)]  # Mon 18:00→Tue 08:00
    assert on_call(shifts, [], "", at("2026-12-07T09:00"), SH) == [1]
    assert on_call(shifts, [], "", at("2026-12-07T23:00"), SH) == [2]
    assert on_call(shifts, [], "", at("2026-12-08T03:00"), SH) == [2]   # Tuesday night
    assert on_call(shifts, [], "", at("2026-12-08T09:00"), SH) == []


def test_an_override_replaces_that_days_shifts_for_its_site_only() -> None:
    shifts = [Shift(1, 0, 0, 1440), Shift(3, 0, 0, 1440, site="dorm-north")]
    overrides = [Override(2, "2026-12-07", 0, 1440, site="hall")]
    assert on_call(shifts, overrides, "hall", at("2026-12-07T10:00"), SH) == [2]
    assert on_call(shifts, overrides, "dorm-north", at("2026-12-07T10:00"), SH) == [1, 3]


def test_levels_filter_by_site_and_severity_and_skip_inactive() -> None:
    people = [person(1, Role.ONCALL), person(2, Role.WATCHER, sites=("hall",)),
              person(3, Role.SUPERVISOR, min_severity=AlarmSeverity.CRITICAL),
              person(4, Role.SUPERVISOR), person(5, Role.FACILITIES_MANAGER, active=False),
              person(6, Role.FACILITIES_MANAGER)]
    level0 = recipients_at_level(0, people, [1], "hall", AlarmSeverity.MAJOR)
    assert [r.id for r in level0] == [1, 2]
    assert [r.id for r in recipients_at_level(0, people, [1], "dorm", AlarmSeverity.MAJOR)] == [1]
    assert [r.id for r in recipients_at_level(1, people, [], "hall", AlarmSeverity.MAJOR)] == [4]
    assert [r.id for r in recipients_at_level(1, people, [], "hall",
                                              AlarmSeverity.CRITICAL)] == [3, 4]
    assert [r.id for r in recipients_at_level(2, people, [], "hall", AlarmSeverity.MAJOR)] == [6]


def test_maintenance_covers_its_device_or_site_while_open() -> None:
    windows = [MaintenanceWindow(100, 200, "new battery", device_id="lock-1"),
               MaintenanceWindow(100, 200, "painting", site="dorm-north")]
    assert covering_window(windows, "lock-1", "", 150) is windows[0]
    assert covering_window(windows, "lock-2", "dorm-north", 150) is windows[1]
    assert covering_window(windows, "lock-2", "hall", 150) is None
    assert covering_window(windows, "lock-1", "", 200) is None   # ended


def test_escalation_steps_per_severity() -> None:
    policy = EscalationPolicy({AlarmSeverity.CRITICAL: (60, 180), AlarmSeverity.MAJOR: (600,)})
    assert policy.next_step_ms(AlarmSeverity.CRITICAL, 1000, 0) == 61_000
    assert policy.next_step_ms(AlarmSeverity.CRITICAL, 1000, 1) == 181_000
    assert policy.next_step_ms(AlarmSeverity.CRITICAL, 1000, 2) is None
    assert policy.next_step_ms(AlarmSeverity.MAJOR, 1000, 1) is None
    assert policy.next_step_ms(AlarmSeverity.MINOR, 1000, 0) is None


def test_ack_link_is_bound_to_its_alarm_and_expires() -> None:
    links = AckLinks(b"k" * 32, ttl_s=60)
    token = links.token(42, 7, now_ms=1_000)
    assert links.verify(token, 30_000) == (42, 7)
    alarm, recipient, expires, mac = token.split(".")
    forged = f"43.{recipient}.{expires}.{mac}"
    longer = f"{alarm}.{recipient}.{int(expires) + 10**9}.{mac}"
    for bad in (forged, longer, token + "x", "42.7", "a.b.c.d", "", f"{alarm}.{recipient}."
                f"{expires}.{mac[:-1]}é", f"²{alarm}.{recipient}.{expires}.{mac}",
                f"{'9' * 25}.{recipient}.{expires}.{mac}"):
        with pytest.raises(InvalidNotifyInput) as refused:
            links.verify(bad, 30_000)
        assert refused.value.code == "invalid_link"
    with pytest.raises(InvalidNotifyInput) as late:
        links.verify(token, 61_000)
    assert late.value.code == "expired_link"
    assert AckLinks(b"o" * 32, 60).token(42, 7, 1_000) != token   # another hall's key


def test_refused_recipients_name_the_field() -> None:
    good = RecipientDraft("张工", Role.ONCALL, (Channel.EMAIL,), email="zhang@campus.edu.cn")
    assert validate_recipient(good) is good
    cases = [
        (RecipientDraft("", Role.ONCALL, (Channel.EMAIL,), email="a@b.cn"), "name"),
        (RecipientDraft("x", Role.ONCALL, ()), "channels"),
        (RecipientDraft("x", Role.ONCALL, (Channel.SMS,)), "phone"),
        (RecipientDraft("x", Role.ONCALL, (Channel.EMAIL,), email="not-an-address"), "email"),
        (RecipientDraft("x", Role.ONCALL, (Channel.EMAIL,), email="a@b.cn\r\nBcc: x@y.cn"),
         "email"),
        (RecipientDraft("x", Role.ONCALL, (Channel.SMS,), phone="12a"), "phone"),
        (RecipientDraft("x", Role.ONCALL, (Channel.EMAIL, Channel.EMAIL), email="a@b.cn"),
         "channels"),
    ]
    for draft, field in cases:
        with pytest.raises(InvalidNotifyInput) as refused:
            validate_recipient(draft)
        assert refused.value.field == field, draft


def test_control_characters_are_refused() -> None:
    with pytest.raises(InvalidNotifyInput) as refused:
        validate_window(MaintenanceWindow(1, 2, "换锁\x00芯", device_id="lock-1"))
    assert refused.value.field == "reason"
    with pytest.raises(InvalidNotifyInput) as refused:
        validate_recipient(RecipientDraft("x", Role.ONCALL, (Channel.EMAIL,),
                                          email="a\x00b@campus.edu.cn"))
    assert refused.value.field == "email"


def test_refused_windows() -> None:
    with pytest.raises(InvalidNotifyInput, match="one device or one site"):
        validate_window(MaintenanceWindow(1, 2, "x"))
    with pytest.raises(InvalidNotifyInput, match="ends after it starts"):
        validate_window(MaintenanceWindow(5, 5, "x", device_id="lock-1"))
    with pytest.raises(InvalidNotifyInput) as refused:
        validate_window(MaintenanceWindow(1, 2, "x", device_id="Lock 1!"))
    assert refused.value.code == "invalid_device_id"


def test_message_in_both_languages_carries_the_link() -> None:
    alarm = Alarm(9, "lock-3-101", "door.forced", AlarmSeverity.CRITICAL, AlarmStatus.ACTIVE,
                  False, at("2026-12-07T03:00"), at("2026-12-07T03:00"))
    subject, text = render_alarm(alarm, "dorm-north", "zh", 0, link="https://h/x", zone=SH)
    assert subject == "[严重] 门被强行打开 — lock-3-101"
    assert "2026-12-07 03:00:00" in text and "https://h/x" in text
    subject, _ = render_alarm(alarm, "", "en", 1, link="", zone=SH)
    assert subject == "[ESCALATED] [CRITICAL] door forced open — lock-3-101"
