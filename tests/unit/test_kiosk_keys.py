"""Browser kiosk keys: random, bound to one device id, stored as a hash, revocable, and
rate-limited per key and per client address."""

from __future__ import annotations

import hashlib

import pytest

from hall_controller.queue.kiosk_keys import (
    KioskKeyService,
    KioskLimits,
    KioskRefused,
    KioskThrottled,
    WindowCounter,
)
from hall_controller.queue.memory_kiosk_keys import MemoryKioskKeys
from tests.support.kiosk_key_store_contract import KioskKeyStoreContract

ADDRESS = "10.0.0.5"


class TestMemoryKioskKeys(KioskKeyStoreContract):
    @pytest.fixture
    def kiosk_keys(self) -> MemoryKioskKeys:
        return MemoryKioskKeys()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service(limits: KioskLimits | None = None) -> tuple[KioskKeyService, MemoryKioskKeys, Clock]:
    store, clock = MemoryKioskKeys(), Clock()
    return KioskKeyService(store, limits, monotonic=clock), store, clock


async def test_a_key_is_random_shown_once_and_stored_only_as_its_hash() -> None:
    keys, store, _ = service()
    first = await keys.create("kiosk-web-1", "一楼大厅", "admin")
    second = await keys.create("kiosk-web-1", "一楼大厅", "admin")
    assert first.plaintext != second.plaintext
    assert first.plaintext.startswith("kk_") and len(first.plaintext) > 50
    stored = store.keys[first.key.key_id]
    secret = first.plaintext.split("_", 2)[2]   # kk_<key id>_<secret>; "_" may be in it
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(stored)
    assert (await keys.authenticate("kiosk-web-1", first.plaintext, ADDRESS)).key_id == \
        first.key.key_id


@pytest.mark.parametrize("presented", [
    "", "kk_wrong", "hk_000000000000_" + "a" * 43,
])
async def test_malformed_keys_are_refused(presented: str) -> None:
    keys, _, _ = service()
    with pytest.raises(KioskRefused):
        await keys.authenticate("kiosk-web-1", presented, ADDRESS)


async def test_a_key_works_for_its_own_kiosk_only_and_not_once_revoked() -> None:
    keys, _, _ = service()
    issued = await keys.create("kiosk-web-1", "", "admin")
    with pytest.raises(KioskRefused):
        await keys.authenticate("kiosk-web-2", issued.plaintext, ADDRESS)
    tampered = issued.plaintext[:-2] + ("AA" if not issued.plaintext.endswith("AA") else "BB")
    with pytest.raises(KioskRefused):
        await keys.authenticate("kiosk-web-1", tampered, ADDRESS)
    await keys.authenticate("kiosk-web-1", issued.plaintext, ADDRESS)
    await keys.revoke(issued.key.key_id, "admin")
    with pytest.raises(KioskRefused):
        await keys.authenticate("kiosk-web-1", issued.plaintext, ADDRESS)


async def test_last_used_is_recorded_at_most_once_a_minute() -> None:
    now = [1_764_300_000_000]
    store = MemoryKioskKeys()
    keys = KioskKeyService(store, clock=lambda: now[0])
    issued = await keys.create("kiosk-web-1", "", "admin")
    assert store.keys[issued.key.key_id].last_used_ms is None
    await keys.authenticate("kiosk-web-1", issued.plaintext, ADDRESS)
    first_use = now[0]
    now[0] += 30_000
    await keys.authenticate("kiosk-web-1", issued.plaintext, ADDRESS)
    assert store.keys[issued.key.key_id].last_used_ms == first_use
    now[0] += 31_000
    await keys.authenticate("kiosk-web-1", issued.plaintext, ADDRESS)
    assert store.keys[issued.key.key_id].last_used_ms == now[0]


async def test_a_busy_key_is_throttled_while_another_kiosk_goes_on() -> None:
    keys, _, clock = service(KioskLimits(requests_per_key=3, requests_per_address=100))
    busy = await keys.create("kiosk-web-1", "", "admin")
    other = await keys.create("kiosk-web-2", "", "admin")
    for _ in range(3):
        await keys.authenticate("kiosk-web-1", busy.plaintext, ADDRESS)
    with pytest.raises(KioskThrottled) as refused:
        await keys.authenticate("kiosk-web-1", busy.plaintext, "10.0.0.6")
    assert 0 < refused.value.retry_after_s <= 60
    await keys.authenticate("kiosk-web-2", other.plaintext, ADDRESS)
    clock.now += 60
    await keys.authenticate("kiosk-web-1", busy.plaintext, ADDRESS)


async def test_an_address_trying_wrong_keys_is_throttled_even_with_a_right_one() -> None:
    keys, _, clock = service(KioskLimits(failures_per_address=3))
    issued = await keys.create("kiosk-web-1", "", "admin")
    for _ in range(3):
        with pytest.raises(KioskRefused):
            await keys.authenticate("kiosk-web-1", "kk_000000000000_" + "x" * 43, ADDRESS)
    with pytest.raises(KioskThrottled):
        await keys.authenticate("kiosk-web-1", issued.plaintext, ADDRESS)
    # Another address (the kiosk itself) is not held up by the guesser.
    await keys.authenticate("kiosk-web-1", issued.plaintext, "10.0.0.7")
    clock.now += 61
    await keys.authenticate("kiosk-web-1", issued.plaintext, ADDRESS)


async def test_an_address_sending_too_many_requests_is_throttled() -> None:
    keys, _, _ = service(KioskLimits(requests_per_key=100, requests_per_address=4))
    issued = await keys.create("kiosk-web-1", "", "admin")
    for _ in range(4):
        await keys.authenticate("kiosk-web-1", issued.plaintext, ADDRESS)
    with pytest.raises(KioskThrottled):
        await keys.authenticate("kiosk-web-1", issued.plaintext, ADDRESS)


def test_the_window_counter_forgets_the_least_recent_keys_beyond_its_bound() -> None:
    counter = WindowCounter(limit=1, window_s=60, tracked_keys=2)
    counter.record("a", 0)
    counter.record("b", 1)
    assert counter.retry_after("a", 2) == pytest.approx(58)
    counter.record("c", 3)                    # "a" goes
    assert counter.retry_after("a", 4) == 0
    assert counter.retry_after("b", 4) == pytest.approx(57)
    assert counter.retry_after("b", 61) == 0  # its event left the window
