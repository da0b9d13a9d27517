"""The alarms shipped in code, as default rules staff can tune without code.

The fleet raises them (``fleet/device_alarms.py``'s ``RULES`` for what devices report,
``fleet/alarms.py``'s offline alarm per kind); this lists each one with its default severity,
and ``Tuning`` says what staff changed: another severity, a delay (raise only once the
condition has lasted that long: a door held open 30 s more, a device offline 2 min more), or
off. With no tuning stored every alarm behaves exactly as the code says. No I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hall_controller.alarm_rules.model import RuleRefused
from hall_controller.fleet.alarms import DEVICE_OFFLINE, OFFLINE_SEVERITY
from hall_controller.fleet.device_alarms import HARDWARE_PARTS, RULES, Clear, Raise
from hall_controller.fleet.model import AlarmSeverity

MAX_DELAY_S = 3_600


@dataclass(frozen=True, slots=True)
class BuiltinAlarm:
    """One alarm of the code: ``id`` names it in the API (``device.offline.kiosk``),
    ``alarm_type`` is the type it is raised with, ``kind`` narrows it to one kind of device.
    ``clears_itself``: a later report clears it, so a delay can spare a passing state."""

    id: str
    alarm_type: str
    severity: AlarmSeverity
    raised_by: tuple[str, ...]
    cleared_by: tuple[str, ...]
    kind: str = ""

    @property
    def clears_itself(self) -> bool:
        return bool(self.cleared_by)


@dataclass(frozen=True, slots=True)
class Tuning:
    """What staff changed of a built-in alarm."""

    builtin_id: str
    severity: AlarmSeverity | None = None   # None: the default
    enabled: bool = True
    delay_s: int = 0
    version: int = 1
    updated_ms: int = 0
    updated_by: str = ""

    def body(self) -> dict[str, Any]:
        return {"severity": None if self.severity is None else self.severity.value,
                "enabled": self.enabled, "delay_s": self.delay_s}


def _builtins() -> dict[str, BuiltinAlarm]:
    found: dict[str, BuiltinAlarm] = {}
    for event, rule in RULES.items():
        if isinstance(rule, Raise):
            known = found.get(rule.alarm)
            raised = (*known.raised_by, event) if known else (event,)
            found[rule.alarm] = BuiltinAlarm(rule.alarm, rule.alarm, rule.severity, raised, ())
    for event, rule in RULES.items():
        if isinstance(rule, Clear):
            for alarm in rule.alarms:
                known = found[alarm]
                found[alarm] = BuiltinAlarm(known.id, alarm, known.severity, known.raised_by,
                                            (*known.cleared_by, event))
    for part in sorted(HARDWARE_PARTS):
        found[f"hardware.{part}"] = BuiltinAlarm(f"hardware.{part}", f"hardware.{part}",
                                                 AlarmSeverity.MAJOR, ("hardware.fault",),
                                                 ("hardware.recovered",))
    for kind, severity in OFFLINE_SEVERITY.items():
        found[f"{DEVICE_OFFLINE}.{kind.value}"] = BuiltinAlarm(
            f"{DEVICE_OFFLINE}.{kind.value}", DEVICE_OFFLINE, severity, ("will", "timeout"),
            ("birth", "activity"), kind=kind.value)
    return dict(sorted(found.items()))


BUILTINS: dict[str, BuiltinAlarm] = _builtins()


def builtin_for(alarm_type: str, kind: str) -> BuiltinAlarm | None:
    """The built-in alarm raised as ``alarm_type`` on a device of ``kind``."""
    if alarm_type == DEVICE_OFFLINE:
        return BUILTINS.get(f"{DEVICE_OFFLINE}.{kind}")
    return BUILTINS.get(alarm_type)


_BUILTIN_ID = re.compile(r"^[a-z_.]{1,64}$")


def parse_tuning(builtin_id: str, body: Any) -> Tuning:
    """The tuning ``body`` asks for; raises ``RuleRefused``."""
    if not _BUILTIN_ID.fullmatch(builtin_id) or builtin_id not in BUILTINS:
        raise RuleRefused("unknown_builtin", "id", f"{builtin_id[:64]!r} is not a built-in "
                          "alarm; see GET /api/v1/alarm-rules/builtin")
    if not isinstance(body, dict):
        raise RuleRefused("invalid_field", "body", "the body must be a JSON object")
    extra = sorted(set(body) - {"severity", "enabled", "delay_s"})
    if extra:
        raise RuleRefused("invalid_field", extra[0], f"{extra[0]} is not a field of a tuning "
                          "(severity, enabled, delay_s)")
    severity = body.get("severity")
    try:
        chosen = None if severity is None else AlarmSeverity(severity)
    except ValueError:
        raise RuleRefused("invalid_field", "severity", "severity must be one of critical, "
                          "major, minor, warning, or null for the default") from None
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleRefused("invalid_field", "enabled", "enabled must be true or false")
    delay = body.get("delay_s", 0)
    if isinstance(delay, bool) or not isinstance(delay, int):
        raise RuleRefused("invalid_field", "delay_s", "delay_s must be a whole number of "
                          "seconds")
    if delay < 0:
        raise RuleRefused("impossible_condition", "delay_s", "delay_s cannot be negative")
    if delay > MAX_DELAY_S:
        raise RuleRefused("invalid_field", "delay_s", f"delay_s must be at most {MAX_DELAY_S}")
    if delay and not BUILTINS[builtin_id].clears_itself:
        raise RuleRefused("impossible_condition", "delay_s", f"{builtin_id} is never cleared "
                          "by the device, so a delay would only hold it back; it can take "
                          "another severity or be turned off")
    return Tuning(builtin_id, chosen, enabled, delay)
