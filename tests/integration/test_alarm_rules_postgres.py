"""The alarm rule store contract on PostgreSQL (migration 0016), and the stored history the
preview replays: a device's telemetry and events, committed as ingest commits them."""

from __future__ import annotations

import uuid

import pytest

from hall_controller.alarm_rules.postgres_store import PostgresAlarmRuleStore
from hall_controller.fleet.model import DeviceEvent, IngestBatch, TelemetryPoint
from tests.support.alarm_rule_store_contract import T0, AlarmRuleStoreContract
from tests.support.hall_store import PostgresHallStore

pytestmark = pytest.mark.integration


class TestPostgresAlarmRuleStore(AlarmRuleStoreContract):
    @pytest.fixture
    def alarm_rules(self, hall_store: PostgresHallStore) -> PostgresAlarmRuleStore:
        return PostgresAlarmRuleStore(hall_store.pool)


async def test_the_preview_history_reads_samples_of_every_type_oldest_first(
        hall_store: PostgresHallStore) -> None:
    store = PostgresAlarmRuleStore(hall_store.pool)
    await hall_store.commit_batch(IngestBatch(telemetry=[
        TelemetryPoint("kiosk-01", T0 + 2000, "cpu_temp_c", 47.5),
        TelemetryPoint("kiosk-01", T0, "cpu_temp_c", 44),
        TelemetryPoint("kiosk-01", T0 + 1000, "printer_state", "jam"),
        TelemetryPoint("kiosk-01", T0 + 1000, "tamper", True),
        TelemetryPoint("kiosk-02", T0 + 1000, "cpu_temp_c", 80.0),
        TelemetryPoint("kiosk-01", T0 + 90_000_000, "cpu_temp_c", 99.0)],
        events=[DeviceEvent(str(uuid.uuid4()), "lock-1", T0 + ms, "access.denied", {}, T0)
                for ms in (500, 100, 900)]))
    assert await store.samples("kiosk-01", "cpu_temp_c", T0, T0 + 86_400_000, 100) == [
        (T0, "cpu_temp_c", 44.0), (T0 + 2000, "cpu_temp_c", 47.5)]
    every = await store.samples("kiosk-01", None, T0, T0 + 86_400_000, 100)
    assert {(m, v) for _, m, v in every} == {("cpu_temp_c", 44.0), ("cpu_temp_c", 47.5),
                                             ("printer_state", "jam"), ("tamper", True)}
    # The limit keeps the newest samples.
    assert await store.samples("kiosk-01", "cpu_temp_c", T0, T0 + 86_400_000, 1) == [
        (T0 + 2000, "cpu_temp_c", 47.5)]
    assert await store.event_times("lock-1", "access.denied", T0, T0 + 1000, 10) == [
        T0 + 100, T0 + 500, T0 + 900]
    assert await store.seen_metrics() == {"cpu_temp_c", "printer_state", "tamper"}
