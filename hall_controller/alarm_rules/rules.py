"""The rule engine: telemetry samples, events and the passing of time in; raise and clear out.

One track per (rule, device) holds what the rule knows of that device: whether its alarm is
active, since when the raise condition has held (``breach_since``: the duration counts from
the first breaching sample), since when the clear condition has held (``calm_since``). A
sample that breaks the running condition resets its clock, so "above 45 for 5 min" means five
minutes with no sample at or below 45. While active, only the clear condition (with its own
threshold: hysteresis) can end the alarm, so a value wobbling around the threshold raises once.

Time: sample timestamps drive the clocks; ``tick(now)`` moves them on between samples (a
device reports once a minute, the alarm is due after 5 min 10 s). ``no_data`` and the quiet
time of event counts live on ticks alone. Samples older than the newest one a track has seen
(redelivery, a late outbox flush) are not judged again.

Pure and synchronous: the controller feeds it from the ingest path and a one-second timer
(``evaluation.py``), the preview feeds it a day of stored telemetry (``service.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hall_controller.alarm_rules.model import (
    Above,
    AlarmRule,
    Condition,
    Equals,
    EventCount,
    NoData,
    Outside,
    Rate,
    render,
)
from hall_controller.fleet.model import TelemetryScalar

_MAX_APPLICABLE_CACHE = 100_000


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    kind: str = ""
    site: str = ""


@dataclass(frozen=True, slots=True)
class Transition:
    """A rule's alarm raised or cleared on one device at ``at_ms``; ``values`` fill the
    message templates and go into the alarm's details."""

    rule: AlarmRule
    device: Device
    raised: bool
    at_ms: int
    values: dict[str, object]

    def messages(self) -> dict[str, str]:
        return {language: render(template, self.values)
                for language, template in self.rule.messages.items()}


@dataclass(slots=True)
class _Track:
    active: bool = False
    breach_since: int | None = None
    calm_since: int | None = None
    last_ts: int = -1
    last_value: TelemetryScalar | None = None
    rate: float | None = None  # the last change per minute a rate rule saw
    events: deque[int] | None = None
    last_event_ms: int = 0


class RuleEngine:
    """Every enabled rule's tracks. ``units``: the unit shown for a metric (``{unit}``)."""

    def __init__(self, zone: ZoneInfo, units: Mapping[str, str] | None = None) -> None:
        self._zone = zone
        self._units = units or {}
        self._rules: dict[str, AlarmRule] = {}
        self._by_metric: dict[str, list[AlarmRule]] = {}
        self._any_metric: list[AlarmRule] = []
        self._by_event: dict[str, list[AlarmRule]] = {}
        self._applicable: dict[tuple[str, str, str, str], list[_Watch]] = {}
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._devices: dict[str, Device] = {}
        # Tracks whose state can change with time alone; ``tick`` looks only at these.
        self._timed: set[tuple[str, str]] = set()

    @property
    def rules(self) -> list[AlarmRule]:
        return list(self._rules.values())

    def set_rules(self, rules: Iterable[AlarmRule], at_ms: int) -> list[Transition]:
        """Use ``rules`` (the disabled ones are left out) from now on. A rule whose body is
        unchanged keeps its tracks; the active alarms of a rule removed, disabled or changed
        are cleared (a changed rule judges afresh)."""
        new = {rule.id: rule for rule in rules if rule.enabled}
        out: list[Transition] = []
        for key, track in list(self._tracks.items()):
            old = self._rules.get(key[0])
            if old is not None and new.get(key[0]) == old:
                continue
            if track.active and old is not None:
                out.append(self._transition(old, key[1], False, at_ms, track,
                                            more={"reason": "rule changed"}))
            del self._tracks[key]
            self._timed.discard(key)
        self._rules = new
        self._by_metric, self._any_metric, self._by_event = {}, [], {}
        for rule in new.values():
            condition = rule.condition
            if isinstance(condition, EventCount):
                self._by_event.setdefault(condition.event, []).append(rule)
            elif isinstance(condition, NoData) and condition.metric == "*":
                self._any_metric.append(rule)
            else:
                self._by_metric.setdefault(condition.metric, []).append(rule)
        self._applicable.clear()
        return out

    def mark_active(self, rule_id: str, device: Device) -> None:
        """An alarm of ``rule_id`` is active on ``device`` already (raised before a restart):
        the clear condition, not the raise condition, is what counts for it now."""
        if rule_id in self._rules:
            self._devices[device.device_id] = device
            track = self._track(self._rules[rule_id], device.device_id)
            track.active = True

    def _track(self, rule: AlarmRule, device_id: str) -> _Track:
        key = (rule.id, device_id)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track()
            if isinstance(rule.condition, NoData):
                self._timed.add(key)
        return track

    def _for(self, device: Device, metric: str) -> list[_Watch]:
        """The rules watching ``metric`` on ``device``, with their tracks (cached: this runs
        for every sample on the ingest path)."""
        key = (device.device_id, device.kind, device.site, metric)
        found = self._applicable.get(key)
        if found is None:
            candidates = self._by_metric.get(metric, []) + self._any_metric
            found = [(rule, self._track(rule, device.device_id), _judge_for(rule.condition),
                      rule.active_hours is not None, _for_ms(rule.condition))
                     for rule in candidates
                     if rule.target.matches(device.device_id, device.kind, device.site)]
            if len(self._applicable) >= _MAX_APPLICABLE_CACHE:
                self._applicable.clear()
            self._applicable[key] = found
            self._devices[device.device_id] = device
        return found

    def seed(self, device: Device, metric: str, ts_ms: int) -> None:
        """The device's last sample of ``metric`` was at ``ts_ms`` (stored before a restart):
        a ``no_data`` rule counts its silence from there, so a device that went quiet while
        the controller was down is still found silent."""
        for _, track, judge, _, _ in self._for(device, metric):
            if judge is None and track.last_ts < ts_ms:
                track.last_ts = ts_ms

    # -- input ---------------------------------------------------------------------------

    def observe(self, device: Device, metric: str, ts_ms: int, value: TelemetryScalar
                ) -> list[Transition]:
        """One telemetry sample."""
        watching = self._for(device, metric)
        if not watching:
            return []
        out: list[Transition] = []
        for rule, track, judge, hours, for_ms in watching:
            if ts_ms <= track.last_ts:
                continue  # redelivered, or older than what this track has judged
            previous_ts, previous = track.last_ts, track.last_value
            track.last_ts, track.last_value = ts_ms, value
            if judge is None:  # no_data: any sample ends the silence
                if track.active:
                    track.active = False
                    out.append(self._transition(rule, device.device_id, False, ts_ms, track,
                                                more={"value": value}))
                continue
            judged = judge(value, previous_ts, previous, ts_ms)
            if judged is None:
                continue
            breach, calm, rate = judged
            if rate is not None:
                track.rate = rate
            if not track.active:
                if not breach:
                    track.breach_since = None  # the common case: all quiet
                    continue
                if hours:
                    breach = self._in_hours(rule, ts_ms)
                elif track.breach_since is not None and ts_ms - track.breach_since < for_ms:
                    continue  # breaching, the duration still running
            elif not calm:
                track.calm_since = None  # still raised
                continue
            self._step(rule, device.device_id, track, ts_ms, breach=breach, calm=calm, out=out)
        return out

    def observe_event(self, device: Device, event_type: str, ts_ms: int) -> list[Transition]:
        """One device event (counted by ``event_count`` rules)."""
        out: list[Transition] = []
        for rule in self._by_event.get(event_type, ()):
            condition = rule.condition
            assert isinstance(condition, EventCount)
            if not rule.target.matches(device.device_id, device.kind, device.site):
                continue
            if not self._in_hours(rule, ts_ms):
                continue
            self._devices[device.device_id] = device
            track = self._track(rule, device.device_id)
            if track.events is None:
                track.events = deque(maxlen=condition.at_least)
            track.events.append(ts_ms)
            track.last_event_ms = max(track.last_event_ms, ts_ms)
            in_window = (len(track.events) == condition.at_least
                         and ts_ms - min(track.events) <= condition.window_s * 1000)
            if in_window and not track.active:
                track.active = True
                out.append(self._transition(rule, device.device_id, True, ts_ms, track,
                                            more={"count": len(track.events)}))
            if track.active and condition.clear_after_s is not None:
                self._timed.add((rule.id, device.device_id))
        return out

    def tick(self, now_ms: int) -> list[Transition]:
        """Let time pass: durations run out, silences become ``no_data``, quiet event
        counts clear."""
        out: list[Transition] = []
        for key in list(self._timed):
            rule = self._rules.get(key[0])
            track = self._tracks.get(key)
            if rule is None or track is None:
                self._timed.discard(key)
                continue
            condition = rule.condition
            if isinstance(condition, NoData):
                silent = track.last_ts >= 0 and now_ms - track.last_ts >= condition.after_s * 1000
                if silent and not track.active and self._in_hours(rule, now_ms):
                    track.active = True
                    out.append(self._transition(rule, key[1], True, now_ms, track))
            elif isinstance(condition, EventCount):
                quiet = condition.clear_after_s
                if not track.active or quiet is None:
                    self._timed.discard(key)
                elif now_ms - track.last_event_ms >= quiet * 1000:
                    track.active = False
                    track.events = None
                    self._timed.discard(key)
                    out.append(self._transition(rule, key[1], False, now_ms, track))
            else:
                self._advance(rule, key[1], track, now_ms, out)
                if track.breach_since is None and track.calm_since is None:
                    self._timed.discard(key)
        return out

    # -- judging ---------------------------------------------------------------------------

    def _step(self, rule: AlarmRule, device_id: str, track: _Track, at_ms: int, *,
              breach: bool, calm: bool, out: list[Transition]) -> None:
        if not track.active:
            track.calm_since = None
            if not breach:
                track.breach_since = None
                return
            if track.breach_since is None:
                track.breach_since = at_ms
                self._timed.add((rule.id, device_id))
        else:
            track.breach_since = None
            if not calm:
                track.calm_since = None
                return
            if track.calm_since is None:
                track.calm_since = at_ms
                self._timed.add((rule.id, device_id))
        self._advance(rule, device_id, track, at_ms, out)

    def _advance(self, rule: AlarmRule, device_id: str, track: _Track, at_ms: int,
                 out: list[Transition]) -> None:
        """Raise or clear once the running condition has lasted long enough by ``at_ms``."""
        condition = rule.condition
        assert not isinstance(condition, NoData | EventCount)
        if not track.active and track.breach_since is not None:
            if at_ms - track.breach_since >= condition.for_s * 1000 and self._in_hours(rule,
                                                                                     at_ms):
                track.active, track.breach_since = True, None
                out.append(self._transition(rule, device_id, True, at_ms, track))
        elif (track.active and track.calm_since is not None
              and at_ms - track.calm_since >= condition.clear_for_s * 1000):
            track.active, track.calm_since = False, None
            out.append(self._transition(rule, device_id, False, at_ms, track))

    def _in_hours(self, rule: AlarmRule, at_ms: int) -> bool:
        if rule.active_hours is None:
            return True
        local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(self._zone)
        return rule.active_hours.contains(local.hour * 60 + local.minute)

    def _transition(self, rule: AlarmRule, device_id: str, raised: bool, at_ms: int,
                    track: _Track, *, more: dict[str, object] | None = None) -> Transition:
        device = self._devices.get(device_id) or Device(device_id)
        values: dict[str, object] = {"device": device.device_id, "site": device.site,
                                     "kind": device.kind, "rule": rule.name,
                                     "severity": rule.severity.value}
        condition = rule.condition
        if isinstance(condition, EventCount):
            values |= {"event": condition.event, "count": condition.at_least,
                       "window": condition.window_s}
        else:
            values |= {"metric": condition.metric, "unit": self._units.get(condition.metric, ""),
                       "value": track.last_value}
            values |= _condition_values(rule)
            if track.rate is not None:
                values["rate"] = round(track.rate, 3)
            if isinstance(condition, NoData):
                values |= {"after": condition.after_s, "last_seen": track.last_ts}
        values |= more or {}
        return Transition(rule, device, raised, at_ms, values)


def _condition_values(rule: AlarmRule) -> dict[str, object]:
    condition = rule.condition
    if isinstance(condition, Above):
        return {"threshold": condition.threshold, "clear_at": condition.clear_at,
                "duration": condition.for_s}
    if isinstance(condition, Outside):
        return {"low": condition.low, "high": condition.high, "duration": condition.for_s}
    if isinstance(condition, Rate):
        return {"per_min": condition.per_min, "duration": condition.for_s}
    if isinstance(condition, Equals):
        return {"duration": condition.for_s}
    return {}


Judged = tuple[bool, bool, float | None] | None
Judge = Callable[[TelemetryScalar, int, TelemetryScalar | None, int], Judged]
# A rule watching one metric of one device: the rule, its track, its judge, whether it has
# active hours, its duration in ms.
_Watch = tuple[AlarmRule, _Track, Judge | None, bool, int]


def _for_ms(condition: Condition) -> int:
    return 0 if isinstance(condition, NoData | EventCount) else condition.for_s * 1000


def _judge_for(condition: Condition) -> Judge | None:
    """The condition as a function of one sample (and the one before it): (raise condition
    holds, clear condition holds, the change per minute for a rate), or None when the sample says
    nothing to the rule (a string where a number is watched, a first sample for a rate).
    Built once per rule and device, so each sample costs one call. None for ``no_data``."""
    if isinstance(condition, NoData | EventCount):
        return None
    if isinstance(condition, Equals):
        expected, kind = condition.value, type(condition.value)

        def equals(value: TelemetryScalar, previous_ts: int, previous: TelemetryScalar | None,
                   ts_ms: int) -> Judged:
            same = type(value) is kind and value == expected
            return same, not same, None
        return equals
    if isinstance(condition, Above):
        threshold, clear_at = condition.threshold, condition.clear_at
        if condition.below:
            def below(value: TelemetryScalar, previous_ts: int,
                      previous: TelemetryScalar | None, ts_ms: int) -> Judged:
                if type(value) is bool or not isinstance(value, int | float):
                    return None
                return value < threshold, value >= clear_at, None
            return below

        def above(value: TelemetryScalar, previous_ts: int, previous: TelemetryScalar | None,
                  ts_ms: int) -> Judged:
            if type(value) is bool or not isinstance(value, int | float):
                return None
            return value > threshold, value <= clear_at, None
        return above
    if isinstance(condition, Outside):
        low, high, h = condition.low, condition.high, condition.hysteresis

        def outside(value: TelemetryScalar, previous_ts: int, previous: TelemetryScalar | None,
                    ts_ms: int) -> Judged:
            if type(value) is bool or not isinstance(value, int | float):
                return None
            return value < low or value > high, low + h <= value <= high - h, None
        return outside
    per_min, clear_per_min, direction = (condition.per_min, condition.clear_per_min,
                                         condition.direction)

    def rate(value: TelemetryScalar, previous_ts: int, previous: TelemetryScalar | None,
             ts_ms: int) -> Judged:
        if (type(value) is bool or not isinstance(value, int | float) or type(previous) is bool
                or not isinstance(previous, int | float) or ts_ms <= previous_ts):
            return None  # previous is None for a track's first sample
        change = (value - previous) / (ts_ms - previous_ts) * 60_000
        signed = change if direction == "rise" else -change if direction == "fall" else abs(
            change)
        return signed > per_min, signed <= clear_per_min, change
    return rate
