"""Pairing a browser kiosk: a one-time code, typed on the kiosk, becomes that kiosk's key.
Once only, for ten minutes, only its hash kept, and an address guessing codes is held off."""

from __future__ import annotations

import hashlib

import pytest

from hall_controller.queue.kiosk_keys import KioskKeyService
from hall_controller.queue.kiosk_pairing import (
    ALPHABET,
    CODE_TTL_MS,
    KioskPairingService,
    PairingRefused,
    PairingThrottled,
)
from hall_controller.queue.memory_kiosk_keys import MemoryKioskKeys

ADDRESS = "10.0.0.7"
T0 = 1_764_300_000_000


class Clocks:
    def __init__(self) -> None:
        self.ms = T0
        self.mono = 500.0

    def now_ms(self) -> int:
        return self.ms

    def monotonic(self) -> float:
        return self.mono


def pairing() -> tuple[KioskPairingService, KioskKeyService, MemoryKioskKeys, Clocks]:
    store, clocks = MemoryKioskKeys(), Clocks()
    keys = KioskKeyService(store, clock=clocks.now_ms, monotonic=clocks.monotonic)
    return (KioskPairingService(store, keys, clock=clocks.now_ms, monotonic=clocks.monotonic),
            keys, store, clocks)


async def test_a_code_is_short_unambiguous_and_becomes_the_kiosks_key_once() -> None:
    service, keys, store, _ = pairing()
    issued = await service.issue("kiosk-lobby-1", "一楼大厅", "admin")
    code = issued.plaintext
    assert len(code) == 9 and code[4] == "-"
    assert all(ch in ALPHABET for ch in code.replace("-", ""))
    assert not set(code) & set("01OIL")
    stored = store.pairing_codes[issued.code.code_hash]
    assert stored.code_hash == hashlib.sha256(code.replace("-", "").encode()).hexdigest()
    assert code not in repr(stored) and code.replace("-", "") not in repr(stored)

    # Typed in lower case with a space, as a person might.
    paired = await service.pair(code.lower().replace("-", " "), ADDRESS)
    assert paired.key.device_id == "kiosk-lobby-1" and paired.key.name == "一楼大厅"
    assert (await keys.authenticate("kiosk-lobby-1", paired.plaintext, ADDRESS)).key_id == \
        paired.key.key_id
    used = store.pairing_codes[issued.code.code_hash]
    assert (used.used_from, used.key_id) == (ADDRESS, paired.key.key_id)
    assert paired.key.created_by == "pairing:admin"

    with pytest.raises(PairingRefused) as refused:
        await service.pair(code, "10.0.0.8")
    assert refused.value.reason == "pairing_code_used"


async def test_a_code_expires_after_ten_minutes() -> None:
    service, _, _, clocks = pairing()
    issued = await service.issue("kiosk-lobby-1", "", "admin")
    clocks.ms += CODE_TTL_MS
    with pytest.raises(PairingRefused) as refused:
        await service.pair(issued.plaintext, ADDRESS)
    assert refused.value.reason == "pairing_code_expired"


@pytest.mark.parametrize("typed", ["", "ABCD", "ABCD-EFGH-JK", "0000-0000", "ZZZZ-ZZZZ", "é" * 8])
async def test_a_wrong_code_is_unknown(typed: str) -> None:
    service, _, _, _ = pairing()
    await service.issue("kiosk-lobby-1", "", "admin")
    with pytest.raises(PairingRefused) as refused:
        await service.pair(typed, ADDRESS)
    assert refused.value.reason == "pairing_code_unknown"


async def test_an_address_guessing_codes_is_held_off_even_with_the_right_one() -> None:
    service, _, _, clocks = pairing()
    issued = await service.issue("kiosk-lobby-1", "", "admin")
    for _ in range(10):
        with pytest.raises(PairingRefused):
            await service.pair("ZZZZ-ZZZZ", ADDRESS)
    with pytest.raises(PairingThrottled) as throttled:
        await service.pair(issued.plaintext, ADDRESS)
    assert throttled.value.retry_after_s > 0
    # Another address (the real kiosk) is not locked out by the guesser.
    assert (await service.pair(issued.plaintext, "10.0.0.9")).key.device_id == "kiosk-lobby-1"
    clocks.mono += 601
    with pytest.raises(PairingRefused) as refused:
        await service.pair("ZZZZ-ZZZZ", ADDRESS)
    assert refused.value.reason == "pairing_code_unknown"
