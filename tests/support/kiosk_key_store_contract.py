"""What every KioskKeyStore must do, as tests: run against MemoryKioskKeys (unit) and
PostgresKioskKeys (integration). A test module subclasses ``KioskKeyStoreContract`` and
provides a ``kiosk_keys`` fixture: an empty store."""

from __future__ import annotations

from typing import Any

import pytest

from hall_controller.kernel.errors import NotFound
from hall_controller.queue.kiosk_keys import KioskKey, KioskKeyStore
from hall_controller.queue.kiosk_pairing import PairingCode

T0 = 1_764_300_000_000


def key(key_id: str, *, device_id: str = "kiosk-web-1", created_ms: int = T0) -> KioskKey:
    return KioskKey(key_id=key_id, device_id=device_id, name="一楼大厅", secret_hash="ab" * 32,
                    created_ms=created_ms, created_by="admin")


class KioskKeyStoreContract:
    async def test_a_stored_key_reads_back_as_stored(self, kiosk_keys: KioskKeyStore) -> None:
        stored = key("k00000000001")
        await kiosk_keys.insert_kiosk_key(stored)
        assert await kiosk_keys.get_kiosk_key("k00000000001") == stored
        assert await kiosk_keys.get_kiosk_key("k00000000002") is None

    async def test_the_list_has_every_key_newest_first(self, kiosk_keys: KioskKeyStore) -> None:
        await kiosk_keys.insert_kiosk_key(key("k00000000001", created_ms=T0))
        await kiosk_keys.insert_kiosk_key(key("k00000000002", device_id="kiosk-web-2",
                                              created_ms=T0 + 1000))
        await kiosk_keys.revoke_kiosk_key("k00000000001", T0 + 2000)
        listed = await kiosk_keys.list_kiosk_keys()
        assert [(k.key_id, k.device_id, k.active) for k in listed] == [
            ("k00000000002", "kiosk-web-2", True), ("k00000000001", "kiosk-web-1", False)]

    async def test_revoking_keeps_the_first_time(self, kiosk_keys: KioskKeyStore) -> None:
        await kiosk_keys.insert_kiosk_key(key("k00000000001"))
        first = await kiosk_keys.revoke_kiosk_key("k00000000001", T0 + 5000)
        again = await kiosk_keys.revoke_kiosk_key("k00000000001", T0 + 9000)
        assert first.revoked_ms == again.revoked_ms == T0 + 5000
        read = await kiosk_keys.get_kiosk_key("k00000000001")
        assert read is not None and not read.active and read.revoked_ms == T0 + 5000

    async def test_revoking_an_unknown_key_is_not_found(self, kiosk_keys: KioskKeyStore) -> None:
        with pytest.raises(NotFound):
            await kiosk_keys.revoke_kiosk_key("k00000000009", T0)

    async def test_last_used_moves_forward_only(self, kiosk_keys: KioskKeyStore) -> None:
        await kiosk_keys.insert_kiosk_key(key("k00000000001"))
        await kiosk_keys.mark_kiosk_key_used("k00000000001", T0 + 60_000)
        await kiosk_keys.mark_kiosk_key_used("k00000000001", T0 + 30_000)   # a late write
        await kiosk_keys.mark_kiosk_key_used("k00000000009", T0)             # unknown: ignored
        read = await kiosk_keys.get_kiosk_key("k00000000001")
        assert read is not None and read.last_used_ms == T0 + 60_000

    async def test_a_pairing_code_is_claimed_once_and_not_after_it_expires(
            self, kiosk_keys: KioskKeyStore) -> None:
        store: Any = kiosk_keys   # the adapters keep keys and pairing codes together
        await store.insert_pairing_code(code("a" * 64, expires_ms=T0 + 600_000))
        await store.insert_pairing_code(code("b" * 64, expires_ms=T0 + 600_000))
        claimed = await store.claim_pairing_code("a" * 64, T0 + 1000, "10.0.0.1")
        assert claimed is not None and claimed.used_ms == T0 + 1000
        assert claimed.used_from == "10.0.0.1"
        assert await store.claim_pairing_code("a" * 64, T0 + 2000, "10.0.0.2") is None
        assert await store.claim_pairing_code("b" * 64, T0 + 600_000, "10.0.0.1") is None
        assert await store.claim_pairing_code("c" * 64, T0, "10.0.0.1") is None
        await store.insert_kiosk_key(key("k00000000001"))
        await store.set_pairing_code_key("a" * 64, "k00000000001")
        read = await store.get_pairing_code("a" * 64)
        assert read is not None and read.key_id == "k00000000001" and read.used_ms == T0 + 1000
        listed = await store.list_pairing_codes(10)
        assert {c.code_hash for c in listed} == {"a" * 64, "b" * 64}
        assert await store.get_pairing_code("c" * 64) is None


def code(code_hash: str, *, expires_ms: int) -> PairingCode:
    return PairingCode(code_hash=code_hash, device_id="kiosk-web-1", name="一楼大厅",
                       created_ms=T0, created_by="admin", expires_ms=expires_ms)
