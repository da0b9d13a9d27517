"""Alarm rules as staff write them: what a rule is, and the checks a draft must pass.

A rule watches the telemetry or the events of the devices its target selects (a device-id
pattern, a kind, a site) and raises the alarm ``rule.<id>`` on each device where its condition
holds, with its severity and a message rendered from its templates (zh-CN and English, with
named placeholders). Each condition has a separate clear condition (hysteresis), so a value
that wobbles around the threshold does not raise and clear over and over.

``drafts.parse_rule`` turns the JSON body of the API into an ``AlarmRule``, refusing anything a
rule could not mean with ``RuleRefused`` (a stable ``code``, the ``field`` at fault, a reason
a person can act on). Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any

from hall_controller.fleet.model import AlarmSeverity
from hall_controller.kernel.error_codes import ErrorCode
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
        # The API answers alarm_rule.invalid with the field and this code as ``reason``.
        super().__init__(reason, code=ErrorCode.ALARM_RULE_INVALID, field=field, reason=code)
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

