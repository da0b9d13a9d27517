"""The alarm rules room's ports in memory: the fake the unit tests run against.

Pure: no I/O. Its fields are public so tests can look at what was stored or put history in
(``telemetry``, ``events``, ``metrics``).
"""

from __future__ import annotations

import dataclasses

from hall_controller.alarm_rules.builtin import Tuning
from hall_controller.alarm_rules.model import AlarmRule, AuditEntry
from hall_controller.fleet.model import TelemetryScalar
from hall_controller.kernel.errors import Conflict, NotFound


class MemoryAlarmRuleStore:
    def __init__(self) -> None:
        self.rules: dict[str, AlarmRule] = {}
        self.tunings: dict[str, Tuning] = {}
        self.audit: list[AuditEntry] = []
        self.changes = 0
        # (device, ts, metric, value) and (device, type, ts): the preview's history.
        self.telemetry: list[tuple[str, int, str, TelemetryScalar]] = []
        self.events: list[tuple[str, str, int]] = []
        self.metrics: set[str] = set()

    def _audit(self, entry: AuditEntry) -> None:
        self.changes += 1
        self.audit.append(dataclasses.replace(entry, id=len(self.audit) + 1))

    async def list_rules(self) -> list[AlarmRule]:
        return [self.rules[k] for k in sorted(self.rules)]

    async def get_rule(self, rule_id: str) -> AlarmRule | None:
        return self.rules.get(rule_id)

    async def create_rule(self, rule: AlarmRule, audit: AuditEntry) -> AlarmRule:
        if rule.id in self.rules:
            raise Conflict(f"a rule {rule.id} exists already")
        stored = dataclasses.replace(rule, version=1, updated_ms=audit.at_ms,
                                     updated_by=audit.by)
        self.rules[rule.id] = stored
        self._audit(audit)
        return stored

    async def update_rule(self, rule: AlarmRule, audit: AuditEntry,
                          expected_version: int | None) -> AlarmRule:
        current = self.rules.get(rule.id)
        if current is None:
            raise NotFound(f"no alarm rule {rule.id}")
        if expected_version is not None and expected_version != current.version:
            raise Conflict(f"rule {rule.id} is at version {current.version}, not "
                           f"{expected_version}: someone changed it meanwhile; reload it")
        stored = dataclasses.replace(rule, version=current.version + 1, updated_ms=audit.at_ms,
                                     updated_by=audit.by)
        self.rules[rule.id] = stored
        self._audit(audit)
        return stored

    async def delete_rule(self, rule_id: str, audit: AuditEntry) -> None:
        if self.rules.pop(rule_id, None) is None:
            raise NotFound(f"no alarm rule {rule_id}")
        self._audit(audit)

    async def list_tunings(self) -> list[Tuning]:
        return [self.tunings[k] for k in sorted(self.tunings)]

    async def save_tuning(self, tuning: Tuning, audit: AuditEntry) -> Tuning:
        current = self.tunings.get(tuning.builtin_id)
        stored = dataclasses.replace(tuning, version=(current.version + 1) if current else 1,
                                     updated_ms=audit.at_ms, updated_by=audit.by)
        self.tunings[tuning.builtin_id] = stored
        self._audit(audit)
        return stored

    async def delete_tuning(self, builtin_id: str, audit: AuditEntry) -> bool:
        if self.tunings.pop(builtin_id, None) is None:
            return False
        self._audit(audit)
        return True

    async def list_audit(self, rule_id: str | None, limit: int) -> list[AuditEntry]:
        found = [a for a in reversed(self.audit) if rule_id is None or a.rule_id == rule_id]
        return found[:limit]

    async def revision(self) -> str:
        return str(self.changes)

    async def samples(self, device_id: str, metric: str | None, from_ms: int, to_ms: int,
                      limit: int) -> list[tuple[int, str, TelemetryScalar]]:
        found = sorted((ts, m, v) for d, ts, m, v in self.telemetry
                       if d == device_id and (metric is None or m == metric)
                       and from_ms <= ts < to_ms)
        return found[-limit:]

    async def event_times(self, device_id: str, event_type: str, from_ms: int, to_ms: int,
                          limit: int) -> list[int]:
        found = sorted(ts for d, t, ts in self.events
                       if d == device_id and t == event_type and from_ms <= ts < to_ms)
        return found[-limit:]

    async def seen_metrics(self) -> set[str]:
        return set(self.metrics) | {m for _, _, m, _ in self.telemetry}
