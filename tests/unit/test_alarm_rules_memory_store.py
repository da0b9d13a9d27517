"""The alarm rule store contract on the in-memory fake."""

from __future__ import annotations

import pytest

from hall_controller.alarm_rules.memory_store import MemoryAlarmRuleStore
from tests.support.alarm_rule_store_contract import AlarmRuleStoreContract


class TestMemoryAlarmRuleStore(AlarmRuleStoreContract):
    @pytest.fixture
    def alarm_rules(self) -> MemoryAlarmRuleStore:
        return MemoryAlarmRuleStore()
