"""What every AlarmRuleStore must do, as tests: run against MemoryAlarmRuleStore (unit) and
PostgresAlarmRuleStore (integration). A test module subclasses ``AlarmRuleStoreContract``
and provides an ``alarm_rules`` fixture: an empty store."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from hall_controller.alarm_rules.builtin import Tuning
from hall_controller.alarm_rules.drafts import parse_rule
from hall_controller.alarm_rules.model import AlarmRule, AuditEntry
from hall_controller.alarm_rules.ports import AlarmRuleStore
from hall_controller.fleet.model import AlarmSeverity
from hall_controller.kernel.errors import Conflict, NotFound

T0 = 1_764_300_000_000


def rule(rule_id: str = "kiosk-hot", threshold: float = 45, **more: Any) -> AlarmRule:
    return parse_rule({
        "id": rule_id, "name": "机柜过热 / kiosk too hot", "severity": "major",
        "target": {"devices": "kiosk-*", "kind": "kiosk", "site": "一楼大厅"},
        "condition": {"type": "above", "metric": "cpu_temp_c", "threshold": threshold,
                      "clear_at": threshold - 2, "for_s": 300},
        "active_hours": {"from": "22:00", "to": "06:00"},
        "message": {"zh-CN": "{device} 温度 {value}{unit}", "en": "{device} at {value} {unit}"},
        **more})


def audit(rule_id: str, action: str, at_ms: int, before: AlarmRule | None = None,
          after: AlarmRule | None = None, by: str = "fay") -> AuditEntry:
    return AuditEntry(rule_id, action, by, at_ms, None if before is None else before.to_body(),
                      None if after is None else after.to_body())


class AlarmRuleStoreContract:
    async def test_a_rule_reads_back_as_written(self, alarm_rules: AlarmRuleStore) -> None:
        written = rule()
        stored = await alarm_rules.create_rule(written, audit("kiosk-hot", "created", T0,
                                                              after=written))
        assert stored == dataclasses.replace(written, version=1, updated_ms=T0, updated_by="fay")
        assert await alarm_rules.get_rule("kiosk-hot") == stored
        assert await alarm_rules.list_rules() == [stored]
        assert await alarm_rules.get_rule("nothing") is None

    async def test_an_id_is_taken_once(self, alarm_rules: AlarmRuleStore) -> None:
        await alarm_rules.create_rule(rule(), audit("kiosk-hot", "created", T0))
        with pytest.raises(Conflict):
            await alarm_rules.create_rule(rule(threshold=50), audit("kiosk-hot", "created", T0))
        stored = await alarm_rules.get_rule("kiosk-hot")
        assert stored is not None and stored.condition == rule().condition
        assert len(await alarm_rules.list_audit(None, 10)) == 1

    async def test_an_update_bumps_the_version_and_a_stale_one_changes_nothing(
            self, alarm_rules: AlarmRuleStore) -> None:
        await alarm_rules.create_rule(rule(), audit("kiosk-hot", "created", T0))
        updated = await alarm_rules.update_rule(rule(threshold=50), audit(
            "kiosk-hot", "updated", T0 + 1000, rule(), rule(threshold=50), by="ada"), 1)
        assert (updated.version, updated.updated_by, updated.updated_ms) == (2, "ada", T0 + 1000)
        with pytest.raises(Conflict):
            await alarm_rules.update_rule(rule(threshold=60), audit("kiosk-hot", "updated",
                                                                    T0 + 2000), 1)
        stored = await alarm_rules.get_rule("kiosk-hot")
        assert stored is not None and stored.version == 2
        assert stored.condition == rule(threshold=50).condition
        with pytest.raises(NotFound):
            await alarm_rules.update_rule(rule("ghost"), audit("ghost", "updated", T0), None)
        assert [a.action for a in await alarm_rules.list_audit("kiosk-hot", 10)] == [
            "updated", "created"]

    async def test_delete_and_the_audit_newest_first_with_before_and_after(
            self, alarm_rules: AlarmRuleStore) -> None:
        first = rule()
        await alarm_rules.create_rule(first, audit("kiosk-hot", "created", T0, after=first))
        await alarm_rules.create_rule(rule("other"), audit("other", "created", T0 + 1))
        await alarm_rules.delete_rule("kiosk-hot", audit("kiosk-hot", "deleted", T0 + 2,
                                                         before=first))
        assert [r.id for r in await alarm_rules.list_rules()] == ["other"]
        with pytest.raises(NotFound):
            await alarm_rules.delete_rule("kiosk-hot", audit("kiosk-hot", "deleted", T0 + 3))
        entries = await alarm_rules.list_audit("kiosk-hot", 10)
        assert [(e.action, e.at_ms, e.by) for e in entries] == [
            ("deleted", T0 + 2, "fay"), ("created", T0, "fay")]
        assert entries[0].before == first.to_body() and entries[0].after is None
        assert entries[1].after == first.to_body()
        assert [e.rule_id for e in await alarm_rules.list_audit(None, 2)] == [
            "kiosk-hot", "other"]

    async def test_tunings_are_kept_versioned_and_reset(self, alarm_rules: AlarmRuleStore
                                                        ) -> None:
        tuned = Tuning("door.held_open", AlarmSeverity.MINOR, True, 30)
        first = await alarm_rules.save_tuning(tuned, audit("builtin:door.held_open", "tuned",
                                                           T0))
        again = await alarm_rules.save_tuning(dataclasses.replace(tuned, enabled=False),
                                              audit("builtin:door.held_open", "tuned", T0 + 5))
        assert (first.version, again.version) == (1, 2)
        assert await alarm_rules.list_tunings() == [again]
        assert again.severity is AlarmSeverity.MINOR and again.enabled is False
        assert await alarm_rules.delete_tuning("door.held_open", audit(
            "builtin:door.held_open", "reset", T0 + 9)) is True
        assert await alarm_rules.delete_tuning("door.held_open", audit(
            "builtin:door.held_open", "reset", T0 + 9)) is False
        assert await alarm_rules.list_tunings() == []
        assert len(await alarm_rules.list_audit("builtin:door.held_open", 10)) == 3

    async def test_the_revision_moves_with_every_change(self, alarm_rules: AlarmRuleStore
                                                        ) -> None:
        seen = {await alarm_rules.revision()}
        await alarm_rules.create_rule(rule(), audit("kiosk-hot", "created", T0))
        seen.add(await alarm_rules.revision())
        await alarm_rules.save_tuning(Tuning("lock.tamper"), audit("builtin:lock.tamper",
                                                                   "tuned", T0))
        seen.add(await alarm_rules.revision())
        assert len(seen) == 3
