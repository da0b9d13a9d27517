"""PostgresProvisioningStore against a real PostgreSQL: the shared contract."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from hall_controller.fleet.postgres_provisioning import PostgresProvisioningStore
from tests.support.hall_store import PostgresHallStore
from tests.support.provisioning_contract import ProvisioningStoreContract

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def provisioning_store(hall_store: PostgresHallStore
                             ) -> AsyncIterator[PostgresProvisioningStore]:
    yield PostgresProvisioningStore(hall_store.pool)


class TestPostgresProvisioningStoreContract(ProvisioningStoreContract):
    """Everything a ProvisioningStore does, against PostgreSQL."""
