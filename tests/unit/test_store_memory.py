"""MemoryStore: the shared store contract, plus what only the fake offers tests."""

from __future__ import annotations

import pytest

from devices.kinds import DeviceKind
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import AlarmSeverity, IngestBatch
from hall_controller.kernel.errors import StoreUnavailable
from hall_controller.users.memory_store import MemoryUserStore
from tests.support.store_contract import BASE, StoreContract, UserStoreContract, device, points


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def users() -> MemoryUserStore:
    return MemoryUserStore()


class TestMemoryStoreContract(StoreContract):
    """Everything a HallStore does, against the fake."""


class TestMemoryUserStoreContract(UserStoreContract):
    """Everything a UserStore does, against the fake."""


async def test_an_unavailable_store_refuses_work_like_a_database_outage() -> None:
    store = MemoryStore()
    store.available = False

    with pytest.raises(StoreUnavailable):
        await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE, x=1)))
    with pytest.raises(StoreUnavailable):
        await store.list_devices()
    assert await store.ping() is False

    store.available = True
    await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE, x=1)))
    assert len(store.telemetry) == 1


async def test_records_handed_out_are_copies() -> None:
    store = MemoryStore()
    await store.upsert_devices([device("kiosk-1", DeviceKind.KIOSK)])
    alarm, _ = await store.raise_alarm("kiosk-1", "paper.low", AlarmSeverity.MINOR, {}, BASE)

    fetched = await store.get_device("kiosk-1")
    assert fetched is not None
    fetched.online = False
    alarm.count = 99

    assert store.devices["kiosk-1"].online is True
    assert store.alarms[alarm.id].count == 1


async def test_maintain_forgets_telemetry_and_dead_letters_past_retention() -> None:
    store = MemoryStore(retention_days=1)
    await store.commit_batch(IngestBatch(telemetry=[
        *points("kiosk-1", BASE - 3 * 86_400_000, x=1), *points("kiosk-1", BASE, x=2)]))

    await store.maintain(BASE)

    assert [row.num for row in store.telemetry] == [2.0]
