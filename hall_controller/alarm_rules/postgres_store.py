"""The alarm rules room's ports over PostgreSQL (migration 0016, queries in
``sql/alarm_rules.sql``), over an open pool it does not own (``PostgresStore.pool``).

A rule is kept as the body the API shows (jsonb) and read back through ``parse_rule``; a rule
and its audit entry are written in one transaction, so no change goes unaudited. Connection
trouble becomes ``StoreUnavailable`` (``kernel.postgres.connections``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hall_controller.alarm_rules.builtin import Tuning
from hall_controller.alarm_rules.drafts import parse_rule
from hall_controller.alarm_rules.model import AlarmRule, AuditEntry, RuleRefused
from hall_controller.alarm_rules.queries import QUERIES
from hall_controller.fleet.model import AlarmSeverity, TelemetryScalar
from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.kernel.postgres.connections import fetch_all, fetch_one, transaction

logger = logging.getLogger(__name__)


def _rule(row: dict[str, Any]) -> AlarmRule | None:
    try:
        rule = parse_rule(row["body"])
    except RuleRefused as exc:
        # Written by an older version whose checks were looser: kept, not evaluated.
        logger.error("stored alarm rule %s no longer reads (%s: %s); it is not evaluated",
                     row["rule_id"], exc.field, exc.reason)
        return None
    return dataclasses.replace(rule, version=row["version"], updated_ms=row["updated_ms"],
                               updated_by=row["updated_by"])


def _audit_params(entry: AuditEntry) -> dict[str, Any]:
    return {"rule_id": entry.rule_id, "action": entry.action, "by": entry.by,
            "at_ms": entry.at_ms, "before": None if entry.before is None else Jsonb(entry.before),
            "after": None if entry.after is None else Jsonb(entry.after)}


class PostgresAlarmRuleStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def list_rules(self) -> list[AlarmRule]:
        rows = await fetch_all(self._pool, "list alarm rules", QUERIES["list_rules"], {})
        return [rule for rule in map(_rule, rows) if rule is not None]

    async def get_rule(self, rule_id: str) -> AlarmRule | None:
        row = await fetch_one(self._pool, "get alarm rule", QUERIES["get_rule"],
                              {"rule_id": rule_id})
        return None if row is None else _rule(row)

    async def create_rule(self, rule: AlarmRule, audit: AuditEntry) -> AlarmRule:
        async with transaction(self._pool, "create alarm rule") as cur:
            await cur.execute(QUERIES["insert_rule"], {
                "rule_id": rule.id, "body": Jsonb(rule.to_body()), "at_ms": audit.at_ms,
                "by": audit.by})
            if await cur.fetchone() is None:
                raise Conflict(f"a rule {rule.id} exists already")
            await cur.execute(QUERIES["insert_audit"], _audit_params(audit))
        return dataclasses.replace(rule, version=1, updated_ms=audit.at_ms, updated_by=audit.by)

    async def update_rule(self, rule: AlarmRule, audit: AuditEntry,
                          expected_version: int | None) -> AlarmRule:
        async with transaction(self._pool, "update alarm rule") as cur:
            await cur.execute(QUERIES["lock_rule"], {"rule_id": rule.id})
            current = await cur.fetchone()
            if current is None:
                raise NotFound(f"no alarm rule {rule.id}")
            if expected_version is not None and expected_version != current["version"]:
                raise Conflict(f"rule {rule.id} is at version {current['version']}, not "
                               f"{expected_version}: someone changed it meanwhile; reload it")
            await cur.execute(QUERIES["update_rule"], {
                "rule_id": rule.id, "body": Jsonb(rule.to_body()), "at_ms": audit.at_ms,
                "by": audit.by})
            row = await cur.fetchone()
            await cur.execute(QUERIES["insert_audit"], _audit_params(audit))
        assert row is not None
        return dataclasses.replace(rule, version=row["version"], updated_ms=audit.at_ms,
                                   updated_by=audit.by)

    async def delete_rule(self, rule_id: str, audit: AuditEntry) -> None:
        async with transaction(self._pool, "delete alarm rule") as cur:
            await cur.execute(QUERIES["delete_rule"], {"rule_id": rule_id})
            if await cur.fetchone() is None:
                raise NotFound(f"no alarm rule {rule_id}")
            await cur.execute(QUERIES["insert_audit"], _audit_params(audit))

    async def list_tunings(self) -> list[Tuning]:
        rows = await fetch_all(self._pool, "list alarm tunings", QUERIES["list_tunings"], {})
        return [Tuning(row["builtin_id"],
                       None if row["severity"] is None else AlarmSeverity(row["severity"]),
                       row["enabled"], row["delay_s"], row["version"], row["updated_ms"],
                       row["updated_by"]) for row in rows]

    async def save_tuning(self, tuning: Tuning, audit: AuditEntry) -> Tuning:
        async with transaction(self._pool, "tune built-in alarm") as cur:
            await cur.execute(QUERIES["save_tuning"], {
                "builtin_id": tuning.builtin_id,
                "severity": None if tuning.severity is None else tuning.severity.value,
                "enabled": tuning.enabled, "delay_s": tuning.delay_s, "at_ms": audit.at_ms,
                "by": audit.by})
            row = await cur.fetchone()
            await cur.execute(QUERIES["insert_audit"], _audit_params(audit))
        assert row is not None
        return dataclasses.replace(tuning, version=row["version"], updated_ms=audit.at_ms,
                                   updated_by=audit.by)

    async def delete_tuning(self, builtin_id: str, audit: AuditEntry) -> bool:
        async with transaction(self._pool, "reset built-in alarm") as cur:
            await cur.execute(QUERIES["delete_tuning"], {"builtin_id": builtin_id})
            if await cur.fetchone() is None:
                return False
            await cur.execute(QUERIES["insert_audit"], _audit_params(audit))
        return True

    async def list_audit(self, rule_id: str | None, limit: int) -> list[AuditEntry]:
        rows = await fetch_all(self._pool, "list alarm rule audit", QUERIES["list_audit"],
                               {"rule_id": rule_id, "limit": limit})
        return [AuditEntry(row["rule_id"], row["action"], row["by_user"], row["at_ms"],
                           row["before"], row["after"], row["id"]) for row in rows]

    async def revision(self) -> str:
        row = await fetch_one(self._pool, "alarm rule revision", QUERIES["revision"], {})
        return str(row["revision"] if row else 0)

    async def samples(self, device_id: str, metric: str | None, from_ms: int, to_ms: int,
                      limit: int) -> list[tuple[int, str, TelemetryScalar]]:
        rows = await fetch_all(self._pool, "telemetry for a preview", QUERIES["samples"], {
            "device_id": device_id, "metric": metric, "from_ms": from_ms, "to_ms": to_ms,
            "limit": limit})
        found: list[tuple[int, str, TelemetryScalar]] = []
        for row in rows:
            value = next((v for v in (row["value_bool"], row["value_num"], row["value_text"])
                          if v is not None), None)
            if value is not None:
                found.append((row["ts_ms"], row["metric"], value))
        return found

    async def event_times(self, device_id: str, event_type: str, from_ms: int, to_ms: int,
                          limit: int) -> list[int]:
        rows = await fetch_all(self._pool, "events for a preview", QUERIES["event_times"], {
            "device_id": device_id, "type": event_type, "from_ms": from_ms, "to_ms": to_ms,
            "limit": limit})
        return [row["ts_ms"] for row in rows]

    async def seen_metrics(self) -> set[str]:
        rows = await fetch_all(self._pool, "seen metrics", QUERIES["seen_metrics"], {})
        return {row["metric"] for row in rows}
