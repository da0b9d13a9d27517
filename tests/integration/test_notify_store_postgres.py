"""The notify store contract on PostgreSQL (migration 0017)."""

from __future__ import annotations

import itertools

import pytest

from hall_controller.fleet.model import AlarmSeverity
from hall_controller.notify.postgres_store import PostgresNotifyStore
from tests.support.hall_store import PostgresHallStore
from tests.support.notify_store_contract import T0, NewAlarm, NotifyStoreContract

pytestmark = pytest.mark.integration


class TestPostgresNotifyStore(NotifyStoreContract):
    @pytest.fixture
    def notify_store(self, hall_store: PostgresHallStore) -> PostgresNotifyStore:
        return PostgresNotifyStore(hall_store.pool)

    @pytest.fixture
    def new_alarm(self, hall_store: PostgresHallStore) -> NewAlarm:
        devices = itertools.count(1)

        async def make() -> int:
            alarm, _ = await hall_store.raise_alarm(f"lock-{next(devices)}", "door.forced",
                                                    AlarmSeverity.CRITICAL, {}, T0)
            return alarm.id
        return make
