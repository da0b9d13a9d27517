"""The rule engine alone (pure): when a rule's alarm is raised and cleared on a device."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hall_controller.alarm_rules.drafts import parse_rule
from hall_controller.alarm_rules.model import AlarmRule
from hall_controller.alarm_rules.rules import Device, RuleEngine, Transition

SHANGHAI = ZoneInfo("Asia/Shanghai")
KIOSK = Device("kiosk-01", "kiosk", "hall")
MIN = 60_000
T0 = int(datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI).timestamp() * 1000)

MESSAGE = {"zh-CN": "{device} 告警", "en": "{device} alarm"}


def rule(condition: dict[str, Any], **more: Any) -> AlarmRule:
    body = {"id": more.pop("id", "r1"), "name": "test rule", "severity": "major",
            "condition": condition, "message": more.pop("message", MESSAGE), **more}
    return parse_rule(body)


def engine(*rules: AlarmRule) -> RuleEngine:
    e = RuleEngine(SHANGHAI, {"cpu_temp_c": "°C"})
    e.set_rules(rules, T0)
    return e


def feed(e: RuleEngine, samples: list[tuple[int, Any]], metric: str = "cpu_temp_c",
         device: Device = KIOSK) -> list[tuple[int, bool]]:
    """(minute, value) samples; the engine also ticks every 10 s in between. Returns
    (ms after T0, raised?) of each transition."""
    out: list[Transition] = []
    clock = T0
    for minute, value in samples:
        ts = T0 + int(minute * MIN)
        while clock < ts:
            out += e.tick(clock)
            clock += 10_000
        out += e.observe(device, metric, ts, value)
    return [(t.at_ms - T0, t.raised) for t in out]


HOT = {"type": "above", "metric": "cpu_temp_c", "threshold": 45, "clear_at": 43, "for_s": 300}


def test_above_for_five_minutes_raises_once_the_five_minutes_are_over() -> None:
    e = engine(rule(HOT))
    changes = feed(e, [(0, 46), (1, 47), (2, 48), (3, 47), (4, 46), (5, 46), (6, 46)])
    assert changes == [(5 * MIN, True)]


def test_a_dip_below_the_threshold_restarts_the_duration() -> None:
    e = engine(rule(HOT))
    changes = feed(e, [(0, 46), (3, 44.9), (4, 46), (8, 46), (9.5, 46)])
    assert changes == [(9 * MIN, True)]  # 5 min after the breach started again at minute 4


def test_the_duration_runs_out_on_the_timer_between_samples() -> None:
    e = engine(rule(HOT))
    feed(e, [(0, 50)])
    assert e.tick(T0 + 5 * MIN - 1) == []
    raised = e.tick(T0 + 5 * MIN)
    assert [(t.raised, t.values["value"]) for t in raised] == [(True, 50)]


def test_hysteresis_keeps_a_wobbling_value_from_flapping() -> None:
    e = engine(rule({**HOT, "for_s": 0}))
    wobble = [(m, 45.5 if m % 2 else 44.5) for m in range(0, 20)]
    changes = feed(e, [*wobble, (20, 43.5), (21, 43)])
    # Raised on the first value above 45, cleared only once it fell to 43.
    assert changes == [(1 * MIN, True), (21 * MIN, False)]


def test_clear_for_needs_the_calm_to_last() -> None:
    e = engine(rule({**HOT, "for_s": 0, "clear_for_s": 120}))
    changes = feed(e, [(0, 50), (1, 40), (2, 50), (3, 40), (4, 41), (5.5, 40)])
    assert changes == [(0, True), (5 * MIN, False)]


def test_below_and_outside_a_range() -> None:
    low = engine(rule({"type": "below", "metric": "battery_pct", "threshold": 20,
                       "clear_at": 25}))
    assert feed(low, [(0, 30), (1, 19), (2, 22), (3, 26)], metric="battery_pct") == [
        (1 * MIN, True), (3 * MIN, False)]
    band = engine(rule({"type": "outside", "metric": "temp_c", "low": 10, "high": 40,
                        "hysteresis": 2}))
    assert feed(band, [(0, 20), (1, 41), (2, 39), (3, 37), (4, 5), (5, 13)],
                metric="temp_c") == [(1 * MIN, True), (3 * MIN, False), (4 * MIN, True),
                                     (5 * MIN, False)]


def test_rate_of_change_per_minute() -> None:
    e = engine(rule({"type": "rate", "metric": "cpu_temp_c", "per_min": 5,
                     "clear_per_min": 1, "direction": "rise"}))
    changes = feed(e, [(0, 40), (1, 42), (2, 50), (3, 53), (4, 53.5), (5, 40)])
    # +8/min raises; +3/min is not calm enough yet; +0.5/min clears; a fall is not a rise.
    assert changes == [(2 * MIN, True), (4 * MIN, False)]


def test_no_data_raises_after_the_silence_and_clears_on_the_next_sample() -> None:
    e = engine(rule({"type": "no_data", "metric": "cpu_temp_c", "after_s": 600}))
    changes = feed(e, [(0, 40), (5, 40), (20, 41)])
    assert changes == [(15 * MIN, True), (20 * MIN, False)]


def test_no_data_of_any_metric() -> None:
    e = engine(rule({"type": "no_data", "metric": "*", "after_s": 60}))
    feed(e, [(0, 1)], metric="fps")
    assert [t.raised for t in e.tick(T0 + 61_000)] == [True]
    assert [t.raised for t in e.observe(KIOSK, "passages", T0 + 70_000, 3)] == [False]


def test_a_string_or_boolean_value() -> None:
    jam = engine(rule({"type": "equals", "metric": "printer_state", "value": "jam",
                       "for_s": 60}))
    assert feed(jam, [(0, "ok"), (1, "jam"), (1.5, "jam"), (2, "jam"), (3, "ok")],
                metric="printer_state") == [(2 * MIN, True), (3 * MIN, False)]
    tamper = engine(rule({"type": "equals", "metric": "tamper", "value": True}))
    # "true" the string is not true the boolean, nor is 1.
    assert feed(tamper, [(0, "true"), (1, 1), (2, True), (3, False)], metric="tamper") == [
        (2 * MIN, True), (3 * MIN, False)]


def test_redelivered_and_late_samples_are_not_judged_again() -> None:
    e = engine(rule({**HOT, "for_s": 0}))
    assert feed(e, [(0, 50)]) == [(0, True)]
    # A late sample from before (an outbox flush) must not clear the alarm.
    assert e.observe(KIOSK, "cpu_temp_c", T0 - MIN, 20) == []
    assert e.observe(KIOSK, "cpu_temp_c", T0, 20) == []


def test_event_count_in_a_sliding_window_per_door() -> None:
    e = engine(rule({"type": "event_count", "event": "access.denied", "at_least": 3,
                     "window_s": 120, "clear_after_s": 300}))
    door_a, door_b = Device("lock-a", "door_lock"), Device("lock-b", "door_lock")
    raised = []
    for minute, door in [(0, door_a), (1, door_b), (1.5, door_a), (3, door_a), (3.5, door_a),
                         (4, door_b)]:
        raised += [(minute, t.device.device_id, t.raised)
                   for t in e.observe_event(door, "access.denied", T0 + int(minute * MIN))]
    # Door a: 0, 1.5, 3 spans 3 min (> 2); 1.5, 3, 3.5 is within 2 min. Door b: only two.
    assert raised == [(3.5, "lock-a", True)]
    assert e.tick(T0 + int(8.4 * MIN)) == []
    assert [(t.device.device_id, t.raised) for t in e.tick(T0 + int(8.5 * MIN))] == [
        ("lock-a", False)]


def test_event_count_without_quiet_time_stays_until_staff_clear_it() -> None:
    e = engine(rule({"type": "event_count", "event": "printer.print_failed", "at_least": 1,
                     "window_s": 60}))
    assert [t.raised for t in e.observe_event(KIOSK, "printer.print_failed", T0)] == [True]
    assert e.tick(T0 + 86_400_000) == []


def test_active_hours_overnight() -> None:
    night = rule({"type": "event_count", "event": "door.opened", "at_least": 1,
                  "window_s": 60}, active_hours={"from": "22:00", "to": "06:00"})
    e = engine(night)
    door = Device("lock-1", "door_lock")

    def at(hour: int, minute: int, day: int = 1) -> int:
        return int(datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).timestamp() * 1000)

    assert e.observe_event(door, "door.opened", at(21, 59)) == []
    assert e.observe_event(door, "door.opened", at(12, 0)) == []
    assert e.observe_event(door, "door.opened", at(6, 0, 2)) == []
    assert [t.raised for t in e.observe_event(door, "door.opened", at(3, 30, 2))] == [True]
    assert [t.raised for t in engine(night).observe_event(door, "door.opened",
                                                          at(22, 0))] == [True]


def test_target_by_pattern_kind_and_site() -> None:
    e = engine(rule({**HOT, "for_s": 0}, target={"devices": "kiosk-*", "site": "hall"}))
    assert e.observe(Device("kiosk-02", "kiosk", "dorm"), "cpu_temp_c", T0, 60) == []
    assert e.observe(Device("gate-01", "face_gate", "hall"), "cpu_temp_c", T0, 60) == []
    assert [t.raised for t in e.observe(Device("kiosk-02", "kiosk", "hall"), "cpu_temp_c",
                                        T0, 60)] == [True]


def test_message_templates_are_filled_in_both_languages() -> None:
    e = engine(rule({**HOT, "for_s": 0}, message={
        "zh-CN": "{device} 温度 {value}{unit} 超过 {threshold}{unit}",
        "en": "{device} at {value} {unit}, above {threshold} {unit} ({rule})"}))
    (raised,) = e.observe(KIOSK, "cpu_temp_c", T0, 47.25)
    assert raised.messages() == {"zh-CN": "kiosk-01 温度 47.25°C 超过 45°C",
                                 "en": "kiosk-01 at 47.25 °C, above 45 °C (test rule)"}


def test_changing_or_disabling_a_rule_clears_its_alarms() -> None:
    hot = rule({**HOT, "for_s": 0})
    e = engine(hot)
    feed(e, [(0, 60)])
    same = e.set_rules([hot], T0 + MIN)
    assert same == []  # unchanged: the alarm stays
    off = parse_rule({**hot.to_body(), "enabled": False})
    cleared = e.set_rules([off], T0 + 2 * MIN)
    assert [(t.raised, t.device.device_id) for t in cleared] == [(False, "kiosk-01")]


def test_an_alarm_raised_before_a_restart_is_cleared_by_the_clear_condition() -> None:
    e = engine(rule(HOT))
    e.mark_active("r1", KIOSK)
    assert feed(e, [(0, 44), (1, 42)]) == [(1 * MIN, False)]


def test_a_thousand_samples_of_unwatched_metrics_cost_no_tracks() -> None:
    e = engine(rule(HOT))
    for i in range(1000):
        assert e.observe(Device(f"d-{i}"), "paper_level_pct", T0 + i, 50) == []
    assert e.tick(T0 + 10 * MIN) == []


def test_utc_timestamps_are_read_in_local_time() -> None:
    # 14:30 UTC is 22:30 in Shanghai: inside 22:00–06:00.
    night = rule({"type": "equals", "metric": "tamper", "value": True},
                 active_hours={"from": "22:00", "to": "06:00"})
    at = int(datetime(2026, 12, 1, 14, 30, tzinfo=UTC).timestamp() * 1000)
    assert [t.raised for t in engine(night).observe(KIOSK, "tamper", at, True)] == [True]


def test_no_data_counts_from_the_last_stored_sample_after_a_restart() -> None:
    e = engine(rule({"type": "no_data", "metric": "cpu_temp_c", "after_s": 600}))
    e.seed(KIOSK, "cpu_temp_c", T0)       # the kiosk's last sample, before the restart
    e.seed(KIOSK, "cpu_temp_c", T0 - MIN)  # an older one changes nothing
    assert e.tick(T0 + 9 * MIN) == []
    assert [t.raised for t in e.tick(T0 + 10 * MIN)] == [True]
