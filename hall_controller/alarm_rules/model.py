"""Alarm rules as staff write them: what a rule is, and the checks a draft must pass.

A rule watches the telemetry or the events of the devices its target selects (a device-id
pattern, a kind, a site) and raises the alarm ``rule.<id>`` on each device where its condition
holds, with its severity and a message rendered from its templates (zh-CN and English, with
named placeholders). Each condition has a separate clear condition (hysteresis), so a value
that wobbles around the threshold does not raise and clear over and over.

``parse_rule`` turns the JSON body of the API into a ``AlarmRule``, refusing anything a rule
could not mean with ``RuleRefused`` (a stable ``code``, the ``field`` at fault, a reason a
person can act on). Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any

from hall_controller.fleet.model import AlarmSeverity
from hall_controller.kernel.errors import HallError

RULE_ALARM_PREFIX = "rule."
"""Alarms raised by a rule have the type ``rule.<rule id>``: unique per (device, rule)."""

RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
DEVICE_PATTERN = re.compile(r"^[a-z0-9*?][a-z0-9*?-]{0,62}$")
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,4}$")
METRIC_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
SITE_NAME = re.compile(r"^[^\x00-\x1f\ud800-\udfff]{0,64}$")
HOUR_MINUTE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
LANGUAGES = ("zh-CN", "en")
MAX_NAME = 80
MAX_TEMPLATE = 300
MAX_ABS_VALUE = 1e9
MAX_DURATION_S = 7 * 86_400
MAX_EVENT_COUNT = 1_000

KINDS = frozenset({"kiosk", "face_gate", "door_lock", "queue_display"})

KNOWN_METRICS: Mapping[str, str] = {
    # What the hall's devices report (docs/protocol.md), with the unit ``{unit}`` shows. A
    # rule may also name any metric a device of the fleet has sent.
    "cpu_temp_c": "°C", "temp_c": "°C", "paper_level_pct": "%", "printer_state": "",
    "tickets_printed": "", "fps": "fps", "passages": "", "brightness_pct": "%",
    "calls_shown": "", "battery_pct": "%", "battery_v": "V", "supply_v": "V",
    "door_state": "", "locked": "", "mode": "", "tamper": "", "rssi": "dBm",
}


class RuleRefused(HallError):
    """A draft rule that cannot be stored: ``code`` is stable (clients switch on it),
    ``field`` names the part of the body at fault, the message says why."""

    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.field = field
        self.reason = reason


# -- conditions ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Above:
    """``metric`` above ``threshold`` for ``for_s``; clears at or below ``clear_at``
    (``below`` turns it round: under ``threshold``, clears at or above ``clear_at``)."""

    metric: str
    threshold: float
    clear_at: float
    for_s: int = 0
    clear_for_s: int = 0
    below: bool = False


@dataclass(frozen=True, slots=True)
class Outside:
    """``metric`` outside [low, high] for ``for_s``; clears once back inside by
    ``hysteresis`` on both sides."""

    metric: str
    low: float
    high: float
    hysteresis: float = 0.0
    for_s: int = 0
    clear_for_s: int = 0


@dataclass(frozen=True, slots=True)
class Rate:
    """``metric`` changing faster than ``per_min`` units a minute (``direction`` rise, fall
    or either) for ``for_s``; clears once the change is back to ``clear_per_min`` or less."""

    metric: str
    per_min: float
    clear_per_min: float
    direction: str = "rise"
    for_s: int = 0
    clear_for_s: int = 0


@dataclass(frozen=True, slots=True)
class NoData:
    """Nothing of ``metric`` (``*``: nothing at all) for ``after_s``; clears on the next
    sample."""

    metric: str
    after_s: int


@dataclass(frozen=True, slots=True)
class Equals:
    """``metric`` equal to ``value`` (a string or a boolean) for ``for_s``; clears once it
    has been something else for ``clear_for_s``."""

    metric: str
    value: str | bool
    for_s: int = 0
    clear_for_s: int = 0


@dataclass(frozen=True, slots=True)
class EventCount:
    """At least ``at_least`` events of ``event`` from one device within ``window_s``;
    clears after ``clear_after_s`` without one (None: stays until staff clear it)."""

    event: str
    at_least: int
    window_s: int
    clear_after_s: int | None = None


Condition = Above | Outside | Rate | NoData | Equals | EventCount
TelemetryCondition = Above | Outside | Rate | NoData | Equals

# The placeholders each condition's templates may use, besides the common ones.
COMMON_PLACEHOLDERS = frozenset({"device", "site", "kind", "rule", "severity"})
PLACEHOLDERS: Mapping[type, frozenset[str]] = {
    Above: frozenset({"metric", "value", "unit", "threshold", "clear_at", "duration"}),
    Outside: frozenset({"metric", "value", "unit", "low", "high", "duration"}),
    Rate: frozenset({"metric", "value", "unit", "rate", "per_min", "duration"}),
    NoData: frozenset({"metric", "after", "last_seen"}),
    Equals: frozenset({"metric", "value", "duration"}),
    EventCount: frozenset({"event", "count", "window"}),
}


@dataclass(frozen=True, slots=True)
class Target:
    """Which devices a rule watches: all three must match (empty ``kind``/``site``: any)."""

    devices: str = "*"
    kind: str = ""
    site: str = ""

    def matches(self, device_id: str, kind: str, site: str) -> bool:
        return ((not self.kind or self.kind == kind) and (not self.site or self.site == site)
                and _pattern(self.devices).fullmatch(device_id) is not None)


@dataclass(frozen=True, slots=True)
class ActiveHours:
    """Local hours in which the rule may raise; ``start`` after ``end`` spans midnight
    (22:00–06:00 is the night)."""

    start: time
    end: time

    def contains(self, minute_of_day: int) -> bool:
        start = self.start.hour * 60 + self.start.minute
        end = self.end.hour * 60 + self.end.minute
        if start <= end:
            return start <= minute_of_day < end
        return minute_of_day >= start or minute_of_day < end


@dataclass(frozen=True, slots=True)
class AlarmRule:
    id: str
    name: str
    severity: AlarmSeverity
    target: Target
    condition: Condition
    messages: Mapping[str, str]
    enabled: bool = True
    active_hours: ActiveHours | None = None
    version: int = 1
    updated_ms: int = 0
    updated_by: str = ""

    @property
    def alarm_type(self) -> str:
        return RULE_ALARM_PREFIX + self.id

    @property
    def metric(self) -> str | None:
        return None if isinstance(self.condition, EventCount) else self.condition.metric

    def to_body(self) -> dict[str, Any]:
        """The rule as the API shows it and ``parse_rule`` reads it back."""
        return {"id": self.id, "name": self.name, "severity": self.severity.value,
                "enabled": self.enabled,
                "target": {"devices": self.target.devices, "kind": self.target.kind,
                           "site": self.target.site},
                "condition": condition_body(self.condition),
                "active_hours": None if self.active_hours is None else {
                    "from": self.active_hours.start.strftime("%H:%M"),
                    "to": self.active_hours.end.strftime("%H:%M")},
                "message": dict(self.messages)}


def condition_body(condition: Condition) -> dict[str, Any]:
    if isinstance(condition, Above):
        return {"type": "below" if condition.below else "above", "metric": condition.metric,
                "threshold": condition.threshold, "clear_at": condition.clear_at,
                "for_s": condition.for_s, "clear_for_s": condition.clear_for_s}
    if isinstance(condition, Outside):
        return {"type": "outside", "metric": condition.metric, "low": condition.low,
                "high": condition.high, "hysteresis": condition.hysteresis,
                "for_s": condition.for_s, "clear_for_s": condition.clear_for_s}
    if isinstance(condition, Rate):
        return {"type": "rate", "metric": condition.metric, "per_min": condition.per_min,
                "clear_per_min": condition.clear_per_min, "direction": condition.direction,
                "for_s": condition.for_s, "clear_for_s": condition.clear_for_s}
    if isinstance(condition, NoData):
        return {"type": "no_data", "metric": condition.metric, "after_s": condition.after_s}
    if isinstance(condition, Equals):
        return {"type": "equals", "metric": condition.metric, "value": condition.value,
                "for_s": condition.for_s, "clear_for_s": condition.clear_for_s}
    return {"type": "event_count", "event": condition.event, "at_least": condition.at_least,
            "window_s": condition.window_s, "clear_after_s": condition.clear_after_s}


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(devices: str) -> re.Pattern[str]:
    """``kiosk-*`` as a regular expression (``*`` any run, ``?`` one character)."""
    compiled = _PATTERNS.get(devices)
    if compiled is None:
        compiled = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                                      for c in devices))
        if len(_PATTERNS) < 10_000:
            _PATTERNS[devices] = compiled
    return compiled


# -- parsing a draft -----------------------------------------------------------------------

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
    if kind not in KINDS | {""}:
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


def render(template: str, values: Mapping[str, object]) -> str:
    """The message with its placeholders filled (each checked by ``parse_rule``)."""
    filled: str = template.format_map(_Filled(values))
    return filled


class _Filled(dict[str, object]):
    def __init__(self, values: Mapping[str, object]) -> None:
        super().__init__({k: _shown(v) for k, v in values.items()})

    def __missing__(self, key: str) -> str:
        return "?"


def _shown(value: object) -> object:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change of a rule or of a built-in alarm's tuning: who, when, before and after."""

    rule_id: str
    action: str            # created, updated, enabled, disabled, deleted
    by: str
    at_ms: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    id: int = 0

