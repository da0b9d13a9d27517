"""A draft rule read and checked: ``parse_rule`` turns the JSON body of the API into an
``AlarmRule`` or refuses it with ``RuleRefused`` (a stable ``code``, the ``field`` at fault, a
reason a person can act on): shapes, bounds, conditions that cannot hold or cannot clear,
templates with placeholders the rule cannot fill. Pure: no I/O, no clock."""

from __future__ import annotations

import math
import re
import string
from datetime import time
from typing import Any

from hall_controller.alarm_rules.model import (
    COMMON_PLACEHOLDERS,
    DEVICE_PATTERN,
    EVENT_TYPE,
    HOUR_MINUTE,
    KINDS,
    LANGUAGES,
    MAX_ABS_VALUE,
    MAX_DURATION_S,
    MAX_EVENT_COUNT,
    MAX_NAME,
    MAX_TEMPLATE,
    METRIC_NAME,
    PLACEHOLDERS,
    RULE_ID,
    SITE_NAME,
    Above,
    ActiveHours,
    AlarmRule,
    Condition,
    Equals,
    EventCount,
    NoData,
    Outside,
    Rate,
    RuleRefused,
    Target,
)
from hall_controller.fleet.model import AlarmSeverity


def _printable(text: str) -> bool:
    """No control characters (NUL included: the database cannot store it) and no lone
    surrogates (not UTF-8: the database cannot store them either)."""
    return not any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in text)


class _Reader:
    """Reads one JSON object, naming the field in every refusal."""

    def __init__(self, body: Any, where: str) -> None:
        if not isinstance(body, dict):
            raise RuleRefused("invalid_field", where or "body", f"{where or 'the body'} must "
                              "be a JSON object")
        self.body: dict[str, Any] = body
        self.where = where
        self.known: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, default: Any = None) -> Any:
        self.known.add(key)
        return self.body.get(key, default)

    def text(self, key: str, pattern: re.Pattern[str], what: str, default: str | None = None
             ) -> str:
        value = self.get(key, default)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise RuleRefused("invalid_field", self.name(key), f"{self.name(key)} must be {what}")
        return value

    def number(self, key: str, default: float | None = None) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value) or abs(value) > MAX_ABS_VALUE:
            raise RuleRefused("invalid_field", self.name(key),
                              f"{self.name(key)} must be a number between -1e9 and 1e9")
        return float(value)

    def seconds(self, key: str, default: int | None = 0, *, low: int = 0) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not value.is_integer()):
            raise RuleRefused("invalid_field", self.name(key),
                              f"{self.name(key)} must be a whole number of seconds")
        if value < 0:
            raise RuleRefused("impossible_condition", self.name(key),
                              f"{self.name(key)} cannot be negative")
        if not low <= value <= MAX_DURATION_S:
            raise RuleRefused("invalid_field", self.name(key), f"{self.name(key)} must be "
                              f"between {low} and {MAX_DURATION_S} seconds (7 days)")
        return int(value)

    def finish(self) -> None:
        extra = sorted(set(self.body) - self.known)
        if extra:
            raise RuleRefused("invalid_field", self.name(extra[0]),
                              f"{self.name(extra[0])} is not a field of this object")


def parse_rule(body: Any, *, rule_id: str | None = None) -> AlarmRule:
    """The rule ``body`` describes; raises ``RuleRefused``. ``rule_id``: the id from the URL
    (an update), which the body may repeat but not contradict."""
    read = _Reader(body, "")
    given_id = read.get("id", rule_id)
    if rule_id is not None and given_id != rule_id:
        raise RuleRefused("invalid_field", "id", "id in the body differs from the one in the "
                          "address; a rule's id cannot change")
    if not isinstance(given_id, str) or not RULE_ID.fullmatch(given_id):
        raise RuleRefused("invalid_field", "id", "id must be 1–48 characters of a-z, 0-9, "
                          "_ and -, starting with a letter or digit")
    name = read.get("name", "")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME or not _printable(
            name):
        raise RuleRefused("invalid_field", "name", f"name must be 1–{MAX_NAME} printable "
                          "characters")
    severity_text = read.get("severity")
    try:
        severity = AlarmSeverity(severity_text)
    except ValueError:
        raise RuleRefused("invalid_field", "severity", "severity must be one of critical, "
                          "major, minor, warning") from None
    enabled = read.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleRefused("invalid_field", "enabled", "enabled must be true or false")
    target = _target(read.get("target", {}))
    condition = _condition(read.get("condition"))
    hours = _hours(read.get("active_hours"))
    messages = _messages(read.get("message"), condition)
    read.finish()
    return AlarmRule(given_id, name.strip(), severity, target, condition, messages, enabled,
                     hours)


def _target(body: Any) -> Target:
    read = _Reader(body, "target")
    devices = read.text("devices", DEVICE_PATTERN, "a device id pattern (a-z, 0-9, -, with * "
                        "for any run and ? for one character)", "*")
    kind = read.get("kind", "")
    if not isinstance(kind, str) or kind not in KINDS | {""}:
        raise RuleRefused("invalid_field", "target.kind", "target.kind must be one of "
                          + ", ".join(sorted(KINDS)) + " (or empty for any)")
    site = read.text("site", SITE_NAME, "a site name of up to 64 characters", "")
    read.finish()
    return Target(devices, kind, site)


def _metric(read: _Reader, *, star: bool = False) -> str:
    metric = read.get("metric")
    if star and metric == "*":
        return "*"
    if not isinstance(metric, str) or not METRIC_NAME.fullmatch(metric):
        raise RuleRefused("invalid_field", read.name("metric"), read.name("metric")
                          + " must be a metric name (letters, digits, _ . : -)")
    return metric


def _condition(body: Any) -> Condition:
    read = _Reader(body, "condition")
    kind = read.get("type")
    condition: Condition
    if kind in ("above", "below"):
        below = kind == "below"
        threshold = read.number("threshold")
        clear_at = read.number("clear_at", threshold)
        if (clear_at > threshold) if not below else (clear_at < threshold):
            raise RuleRefused("impossible_condition", "condition.clear_at",
                              f"clear_at must be {'at or above' if below else 'at or below'} "
                              "the threshold, or the alarm would be raised and cleared by the "
                              "same value")
        condition = Above(_metric(read), threshold, clear_at, read.seconds("for_s"),
                          read.seconds("clear_for_s"), below)
    elif kind == "outside":
        low, high = read.number("low"), read.number("high")
        hysteresis = read.number("hysteresis", 0.0)
        if low >= high:
            raise RuleRefused("impossible_condition", "condition.low",
                              "low must be below high")
        if hysteresis < 0 or 2 * hysteresis >= high - low:
            raise RuleRefused("impossible_condition", "condition.hysteresis",
                              "hysteresis must be at least 0 and less than half of high − low")
        condition = Outside(_metric(read), low, high, hysteresis, read.seconds("for_s"),
                            read.seconds("clear_for_s"))
    elif kind == "rate":
        per_min = read.number("per_min")
        clear_per_min = read.number("clear_per_min", per_min)
        direction = read.get("direction", "rise")
        if direction not in ("rise", "fall", "either"):
            raise RuleRefused("invalid_field", "condition.direction",
                              "condition.direction must be rise, fall or either")
        if per_min <= 0 or not 0 <= clear_per_min <= per_min:
            raise RuleRefused("impossible_condition", "condition.per_min",
                              "per_min must be above 0 and clear_per_min between 0 and per_min")
        condition = Rate(_metric(read), per_min, clear_per_min, direction,
                         read.seconds("for_s"), read.seconds("clear_for_s"))
    elif kind == "no_data":
        condition = NoData(_metric(read, star=True), read.seconds("after_s", None, low=10))
    elif kind == "equals":
        value = read.get("value")
        if not isinstance(value, str | bool) or (isinstance(value, str) and not (
                0 < len(value) <= 64 and _printable(value))):
            raise RuleRefused("invalid_field", "condition.value",
                              "condition.value must be a string (1–64 characters) or a boolean")
        condition = Equals(_metric(read), value, read.seconds("for_s"),
                           read.seconds("clear_for_s"))
    elif kind == "event_count":
        event = read.text("event", EVENT_TYPE, "an event type such as access.denied")
        at_least = read.get("at_least", 1)
        if isinstance(at_least, bool) or not isinstance(at_least, int) or not (
                1 <= at_least <= MAX_EVENT_COUNT):
            raise RuleRefused("invalid_field", "condition.at_least",
                              f"condition.at_least must be a whole number from 1 to "
                              f"{MAX_EVENT_COUNT}")
        clear_after = read.get("clear_after_s")
        condition = EventCount(event, at_least, read.seconds("window_s", 60, low=1),
                               None if clear_after is None else
                               read.seconds("clear_after_s", None, low=1))
    else:
        raise RuleRefused("invalid_field", "condition.type", "condition.type must be one of "
                          "above, below, outside, rate, no_data, equals, event_count")
    read.known.add("type")
    read.finish()
    return condition


def _hours(body: Any) -> ActiveHours | None:
    if body is None:
        return None
    read = _Reader(body, "active_hours")
    start = read.text("from", HOUR_MINUTE, "a local time HH:MM")
    end = read.text("to", HOUR_MINUTE, "a local time HH:MM")
    read.finish()
    if start == end:
        raise RuleRefused("impossible_condition", "active_hours.to", "active_hours.from and "
                          "active_hours.to are the same: the rule would never be active")
    return ActiveHours(time.fromisoformat(start), time.fromisoformat(end))


def _messages(body: Any, condition: Condition) -> dict[str, str]:
    read = _Reader(body, "message")
    allowed = COMMON_PLACEHOLDERS | PLACEHOLDERS[type(condition)]
    messages = {}
    for language in LANGUAGES:
        where = f"message.{language}"
        text = read.get(language)
        if not isinstance(text, str) or not 1 <= len(text.strip()) <= MAX_TEMPLATE or not (
                _printable(text)):
            raise RuleRefused("invalid_field", where, f"{where} must be 1–{MAX_TEMPLATE} "
                              "printable characters")
        for name in template_fields(text, where):
            if name not in allowed:
                raise RuleRefused("unknown_placeholder", where,
                                  f"{where} uses {{{name}}}, which this rule cannot fill; it "
                                  "may use " + ", ".join("{" + p + "}" for p in sorted(allowed)))
        messages[language] = text
    read.finish()
    return messages


def template_fields(text: str, where: str) -> list[str]:
    """The placeholders of a template; refuses anything but plain ``{name}`` (no format
    specs, conversions, indexes or attributes: a template is text, not code)."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        raise RuleRefused("invalid_template", where, f"{where} has an unmatched brace; "
                          "write {{ or }} for a brace of its own") from None
    names = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if spec or conversion or not re.fullmatch(r"[a-z_]+", name):
            raise RuleRefused("invalid_template", where,
                              f"{where}: {{{name}}} is not a placeholder; use a plain "
                              "{name} such as {device}")
        names.append(name)
    return names
