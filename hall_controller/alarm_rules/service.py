"""Alarm rule use cases: staff list, write, switch and delete rules, tune the built-in alarms,
read the audit, and preview a draft over a device's last day.

A rule is checked twice before it is stored: on its own (``model.parse_rule``: shape, bounds,
possible conditions, known placeholders) and against the hall (``_check_fleet``: a metric some
device reports or the known metric table has, a target that selects at least one device).
Every change is audited with who, when, and the rule before and after.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from hall_controller.alarm_rules.builtin import BUILTINS, BuiltinAlarm, Tuning, parse_tuning
from hall_controller.alarm_rules.drafts import parse_rule
from hall_controller.alarm_rules.model import (
    KNOWN_METRICS,
    AlarmRule,
    AuditEntry,
    EventCount,
    RuleRefused,
)
from hall_controller.alarm_rules.ports import AlarmRuleStore, RuleHistory
from hall_controller.alarm_rules.rules import Device, RuleEngine, Transition
from hall_controller.fleet.model import DeviceRecord
from hall_controller.kernel.errors import NotFound

logger = logging.getLogger(__name__)

PREVIEW_SPAN_MS = 24 * 3600 * 1000
PREVIEW_MAX_SAMPLES = 50_000
PREVIEW_MAX_POINTS = 1_500   # drawn: the samples thinned to this many
PREVIEW_TICK_MS = 15_000     # time passes in these steps between samples


class DeviceDirectory(Protocol):
    """The devices the hall knows (``DeviceRegistry``)."""

    def all(self) -> list[DeviceRecord]: ...
    def get(self, device_id: str) -> DeviceRecord | None: ...


def device_of(directory: DeviceDirectory, device_id: str) -> Device:
    record = directory.get(device_id)
    if record is None:
        return Device(device_id)
    return Device(device_id, record.kind.value, record.site)


@dataclass(frozen=True, slots=True)
class BuiltinView:
    builtin: BuiltinAlarm
    tuning: Tuning | None


@dataclass(frozen=True, slots=True)
class PreviewInterval:
    raised_ms: int
    cleared_ms: int | None   # None: still raised at the end of the day
    messages: dict[str, str]
    value: object


@dataclass(frozen=True, slots=True)
class Preview:
    device: Device
    matches_target: bool
    from_ms: int
    to_ms: int
    samples: int
    points: list[tuple[int, float]]   # the metric's numeric samples, thinned, for a chart
    intervals: list[PreviewInterval]


RulesChanged = Callable[[], Awaitable[None]]


class AlarmRuleService:
    def __init__(self, store: AlarmRuleStore, history: RuleHistory, devices: DeviceDirectory,
                 zone: ZoneInfo) -> None:
        self._store = store
        self._history = history
        self._devices = devices
        self._zone = zone
        self._listeners: list[RulesChanged] = []

    def subscribe(self, listener: RulesChanged) -> None:
        """Hear every stored change: the evaluation reloads its rules before the change is
        answered, so what staff saved is what is judged from the next sample on."""
        self._listeners.append(listener)

    async def _changed(self) -> None:
        for listener in self._listeners:
            try:
                await listener()
            except Exception:
                # Stored already; the evaluation's own timer notices the new revision.
                logger.exception("alarm rule listener failed")

    # -- rules -----------------------------------------------------------------------------

    async def list_rules(self) -> list[AlarmRule]:
        return await self._store.list_rules()

    async def get_rule(self, rule_id: str) -> AlarmRule:
        rule = await self._store.get_rule(rule_id)
        if rule is None:
            raise NotFound(f"no alarm rule {rule_id}")
        return rule

    async def create(self, body: Any, by: str, at_ms: int) -> AlarmRule:
        rule = parse_rule(body)
        await self._check_fleet(rule)
        stored = await self._store.create_rule(rule, AuditEntry(
            rule.id, "created", by, at_ms, None, rule.to_body()))
        logger.info("alarm rule %s created by %s", rule.id, by, extra={"rule_id": rule.id})
        await self._changed()
        return stored

    async def update(self, rule_id: str, body: Any, by: str, at_ms: int,
                     expected_version: int | None = None) -> AlarmRule:
        before = await self.get_rule(rule_id)
        rule = parse_rule(body, rule_id=rule_id)
        await self._check_fleet(rule)
        stored = await self._store.update_rule(rule, AuditEntry(
            rule_id, "updated", by, at_ms, before.to_body(), rule.to_body()), expected_version)
        logger.info("alarm rule %s updated by %s", rule_id, by, extra={"rule_id": rule_id})
        await self._changed()
        return stored

    async def set_enabled(self, rule_id: str, enabled: bool, by: str, at_ms: int) -> AlarmRule:
        """Switch a rule on or off; its alarms clear when it goes off. Repeating it changes
        nothing and writes no audit entry."""
        before = await self.get_rule(rule_id)
        if before.enabled == enabled:
            return before
        rule = dataclasses.replace(before, enabled=enabled)
        stored = await self._store.update_rule(rule, AuditEntry(
            rule_id, "enabled" if enabled else "disabled", by, at_ms, before.to_body(),
            rule.to_body()), before.version)
        await self._changed()
        return stored

    async def delete(self, rule_id: str, by: str, at_ms: int) -> None:
        before = await self.get_rule(rule_id)
        await self._store.delete_rule(rule_id, AuditEntry(rule_id, "deleted", by, at_ms,
                                                          before.to_body(), None))
        logger.info("alarm rule %s deleted by %s", rule_id, by, extra={"rule_id": rule_id})
        await self._changed()

    async def audit(self, rule_id: str | None, limit: int) -> list[AuditEntry]:
        return await self._store.list_audit(rule_id, limit)

    async def _check_fleet(self, rule: AlarmRule) -> None:
        """Refuse a rule that could never fire in this hall."""
        metric = rule.metric
        if metric is not None and metric != "*" and metric not in KNOWN_METRICS and (
                metric not in await self._history.seen_metrics()):
            raise RuleRefused("unknown_metric", "condition.metric",
                              f"no device of the hall reports {metric!r}, and it is not a "
                              "known metric; check its spelling (e.g. cpu_temp_c)")
        target = rule.target
        devices = self._devices.all()
        if not any(target.matches(d.device_id, d.kind.value, d.site) for d in devices):
            raise RuleRefused("no_matching_device", "target.devices",
                              f"no device of the hall matches devices={target.devices!r}"
                              + (f", kind={target.kind!r}" if target.kind else "")
                              + (f", site={target.site!r}" if target.site else "")
                              + f" (the hall has {len(devices)} devices)")

    # -- built-in alarms -------------------------------------------------------------------

    async def builtins(self) -> list[BuiltinView]:
        tunings = {t.builtin_id: t for t in await self._store.list_tunings()}
        return [BuiltinView(b, tunings.get(b.id)) for b in BUILTINS.values()]

    async def tune(self, builtin_id: str, body: Any, by: str, at_ms: int) -> BuiltinView:
        tuning = parse_tuning(builtin_id, body)
        before = {t.builtin_id: t for t in await self._store.list_tunings()}.get(builtin_id)
        stored = await self._store.save_tuning(tuning, AuditEntry(
            f"builtin:{builtin_id}", "tuned", by, at_ms,
            None if before is None else before.body(), tuning.body()))
        await self._changed()
        return BuiltinView(BUILTINS[builtin_id], stored)

    async def reset(self, builtin_id: str, by: str, at_ms: int) -> BuiltinView:
        """Back to the code's defaults; harmless when nothing was tuned."""
        parse_tuning(builtin_id, {})  # an unknown id is refused the same way
        before = {t.builtin_id: t for t in await self._store.list_tunings()}.get(builtin_id)
        if before is not None and await self._store.delete_tuning(builtin_id, AuditEntry(
                f"builtin:{builtin_id}", "reset", by, at_ms, before.body(), None)):
            await self._changed()
        return BuiltinView(BUILTINS[builtin_id], None)

    # -- preview ---------------------------------------------------------------------------

    async def preview(self, body: Any, device_id: str, now_ms: int) -> Preview:
        """How the draft rule ``body`` would have fired on ``device_id`` over the last 24 h
        of its stored telemetry (or events): the intervals it would have been raised."""
        draft = body if not isinstance(body, dict) else {**body, "enabled": True}
        rule = parse_rule(draft)
        await self._check_fleet(rule)
        if self._devices.get(device_id) is None:
            raise NotFound(f"no device {device_id}")
        device = device_of(self._devices, device_id)
        engine = RuleEngine(self._zone, KNOWN_METRICS)
        from_ms = now_ms - PREVIEW_SPAN_MS
        engine.set_rules([rule], from_ms)
        out: list[Transition] = []
        points: list[tuple[int, float]] = []
        condition = rule.condition
        clock = from_ms
        if isinstance(condition, EventCount):
            times = await self._history.event_times(device_id, condition.event, from_ms,
                                                    now_ms, PREVIEW_MAX_SAMPLES)
            for ts in times:
                clock = _pass_time(engine, clock, ts, out)
                out += engine.observe_event(device, condition.event, ts)
            count = len(times)
        else:
            metric = None if condition.metric == "*" else condition.metric
            samples = await self._history.samples(device_id, metric, from_ms, now_ms,
                                                  PREVIEW_MAX_SAMPLES)
            for ts, name, value in samples:
                clock = _pass_time(engine, clock, ts, out)
                out += engine.observe(device, name, ts, value)
                if not isinstance(value, bool) and isinstance(value, int | float):
                    points.append((ts, float(value)))
            count = len(samples)
        _pass_time(engine, clock, now_ms + 1, out)
        step = max(1, len(points) // PREVIEW_MAX_POINTS + (len(points) % PREVIEW_MAX_POINTS > 0))
        return Preview(device, rule.target.matches(device.device_id, device.kind, device.site),
                       from_ms, now_ms, count, points[::step], _intervals(out))


def _pass_time(engine: RuleEngine, clock: int, until: int, out: list[Transition]) -> int:
    """Tick the engine every ``PREVIEW_TICK_MS`` from ``clock`` up to (not including)
    ``until``; returns the next tick's time."""
    while clock < until:
        out += engine.tick(clock)
        clock += PREVIEW_TICK_MS
    return clock


def _intervals(transitions: list[Transition]) -> list[PreviewInterval]:
    intervals: list[PreviewInterval] = []
    open_at: Transition | None = None
    for transition in transitions:
        if transition.raised and open_at is None:
            open_at = transition
        elif not transition.raised and open_at is not None:
            intervals.append(PreviewInterval(open_at.at_ms, transition.at_ms,
                                             open_at.messages(), open_at.values.get("value")))
            open_at = None
    if open_at is not None:
        intervals.append(PreviewInterval(open_at.at_ms, None, open_at.messages(),
                                         open_at.values.get("value")))
    return intervals
