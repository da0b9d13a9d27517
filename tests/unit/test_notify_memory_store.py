"""The notify store contract over the in-memory fake."""

from __future__ import annotations

import itertools

import pytest

from hall_controller.notify.memory_store import MemoryNotifyStore
from tests.support.notify_store_contract import NewAlarm, NotifyStoreContract


@pytest.fixture
def notify_store() -> MemoryNotifyStore:
    return MemoryNotifyStore()


@pytest.fixture
def new_alarm() -> NewAlarm:
    ids = itertools.count(1)

    async def make() -> int:
        return next(ids)
    return make


class TestMemoryNotifyStore(NotifyStoreContract):
    pass
