"""Ports of the alarm rules room: where rules, built-in tunings and their audit are kept, and
the stored history the preview replays."""

from __future__ import annotations

from typing import Protocol

from hall_controller.alarm_rules.builtin import Tuning
from hall_controller.alarm_rules.model import AlarmRule, AuditEntry
from hall_controller.fleet.model import TelemetryScalar


class AlarmRuleStore(Protocol):
    async def list_rules(self) -> list[AlarmRule]:
        """Every rule, enabled or not, by id."""
        ...

    async def get_rule(self, rule_id: str) -> AlarmRule | None: ...

    async def create_rule(self, rule: AlarmRule, audit: AuditEntry) -> AlarmRule:
        """Store a new rule (version 1) and its audit entry in one transaction; raises
        Conflict when the id is taken."""
        ...

    async def update_rule(self, rule: AlarmRule, audit: AuditEntry,
                          expected_version: int | None) -> AlarmRule:
        """Replace the rule (version + 1) and write the audit entry in one transaction.
        Raises NotFound for an unknown id, Conflict when ``expected_version`` is given and is
        not the stored one (someone else changed it meanwhile)."""
        ...

    async def delete_rule(self, rule_id: str, audit: AuditEntry) -> None:
        """Raises NotFound."""
        ...

    async def list_tunings(self) -> list[Tuning]:
        """What staff changed of the built-in alarms, by id."""
        ...

    async def save_tuning(self, tuning: Tuning, audit: AuditEntry) -> Tuning:
        """Insert or replace (version + 1), with the audit entry, in one transaction."""
        ...

    async def delete_tuning(self, builtin_id: str, audit: AuditEntry) -> bool:
        """Back to the code's defaults; False when nothing was tuned."""
        ...

    async def list_audit(self, rule_id: str | None, limit: int) -> list[AuditEntry]:
        """Newest first."""
        ...

    async def revision(self) -> str:
        """Changes whenever a rule or tuning does (other controllers reload on it)."""
        ...


class RuleHistory(Protocol):
    """A device's stored telemetry and events, for the preview."""

    async def samples(self, device_id: str, metric: str | None, from_ms: int, to_ms: int,
                      limit: int) -> list[tuple[int, str, TelemetryScalar]]:
        """(ts, metric, value), oldest first; every metric when ``metric`` is None."""
        ...

    async def event_times(self, device_id: str, event_type: str, from_ms: int, to_ms: int,
                          limit: int) -> list[int]:
        """Timestamps of the device's events of that type, oldest first."""
        ...

    async def seen_metrics(self) -> set[str]:
        """Every metric some device has reported (its latest value is kept)."""
        ...
