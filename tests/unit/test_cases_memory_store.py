"""MemoryCaseStore: the shared case-store contract (the same tests run against PostgreSQL)."""

from __future__ import annotations

import pytest

from hall_controller.cases.memory_store import MemoryCaseStore
from hall_controller.kernel.errors import StoreUnavailable
from tests.support.case_store_contract import CaseStoreContract, a_case


@pytest.fixture
def case_store() -> MemoryCaseStore:
    return MemoryCaseStore()


class TestMemoryCaseStoreContract(CaseStoreContract):
    """Everything an IntegrationStore does, against the fake."""


async def test_an_unavailable_store_refuses_work() -> None:
    store = MemoryCaseStore()
    store.available = False
    with pytest.raises(StoreUnavailable):
        await store.get_case("c-1")
    with pytest.raises(StoreUnavailable):
        await store.save_case(a_case(), 0, [])
