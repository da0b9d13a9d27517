"""The kiosk key store contract on PostgreSQL (migration 0015)."""

from __future__ import annotations

import pytest

from hall_controller.queue.postgres_kiosk_keys import PostgresKioskKeys
from tests.support.hall_store import PostgresHallStore
from tests.support.kiosk_key_store_contract import KioskKeyStoreContract

pytestmark = pytest.mark.integration


class TestPostgresKioskKeys(KioskKeyStoreContract):
    @pytest.fixture
    def kiosk_keys(self, hall_store: PostgresHallStore) -> PostgresKioskKeys:
        return PostgresKioskKeys(hall_store.pool)
