"""Signed commands: a lock accepts exactly the commands the controller signed for it, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devices.contract import Command
from devices.kinds import DeviceKind
from devices.signing import (
    CLOCK_SKEW_MS,
    SIGNED_TTL_MAX_MS,
    CommandRejected,
    CommandVerifier,
    NonceCache,
    command_signature,
    derive_device_key,
    sign_command,
)
from edge.settings import COMMAND_KEY_ENV, AgentSettings, command_key_from_env, command_key_from_hex

MASTER = b"controller-master-secret-for-tests"
DEVICE = "lock-3-101"
NOW = 1_795_860_000_000


class Clock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def unlock(**overrides: Any) -> Command:
    values: dict[str, Any] = {"id": "b3d1c6a2-5e8f-4a7b-9c0d-1e2f3a4b5c6d", "method": "door.unlock",
                              "params": {"duration_s": 5}, "expires_at": NOW + 5_000}
    values.update(overrides)
    return Command(**values)


def verifier(clock: Clock, nonces: NonceCache | None = None,
             key: bytes | None = None) -> CommandVerifier:
    return CommandVerifier(key or derive_device_key(MASTER, DEVICE), DEVICE,
                           NonceCache(clock=clock) if nonces is None else nonces, clock=clock)


def rejection(check: CommandVerifier, command: Command) -> CommandRejected:
    with pytest.raises(CommandRejected) as info:
        check.verify(command)
    return info.value


def test_a_signed_command_is_accepted_once_and_the_key_is_per_device() -> None:
    clock = Clock()
    key = derive_device_key(MASTER, DEVICE)
    assert key != derive_device_key(MASTER, "lock-3-102")
    assert len(key) == 32
    signed = sign_command(unlock(), DEVICE, key)
    assert signed.nonce is not None and len(signed.nonce) == 32
    assert signed.signature is not None and len(signed.signature) == 64
    assert signed.params == {"duration_s": 5}
    verifier(clock).verify(signed)  # no exception: accepted
    # Two signings of one command differ (fresh nonce), so neither replays the other.
    assert sign_command(unlock(), DEVICE, key).nonce != signed.nonce


def test_the_signature_does_not_depend_on_the_order_of_params() -> None:
    clock = Clock()
    key = derive_device_key(MASTER, DEVICE)
    signed = sign_command(unlock(params={"a": 1, "b": "é"}), DEVICE, key)
    reordered = Command.model_validate({**signed.model_dump(), "params": {"b": "é", "a": 1}})
    verifier(clock).verify(reordered)


@pytest.mark.parametrize("tamper", [
    {"params": {"duration_s": 3600}},
    {"method": "door.set_mode"},
    {"id": "another-id"},
    {"expires_at": NOW + 9_000},
    {"nonce": "0" * 32},
    {"signature": "0" * 64},
])
def test_a_changed_field_breaks_the_signature(tamper: dict[str, Any]) -> None:
    clock = Clock()
    signed = sign_command(unlock(), DEVICE, derive_device_key(MASTER, DEVICE))
    forged = signed.model_copy(update=tamper)
    assert rejection(verifier(clock), forged).code == "bad_signature"


def test_a_command_signed_for_another_lock_or_with_another_key_is_forged() -> None:
    clock = Clock()
    for_neighbour = sign_command(unlock(), "lock-3-102", derive_device_key(MASTER, "lock-3-102"))
    assert rejection(verifier(clock), for_neighbour).code == "bad_signature"
    wrong_master = sign_command(unlock(), DEVICE, derive_device_key(b"x" * 32, DEVICE))
    assert rejection(verifier(clock), wrong_master).code == "bad_signature"


@pytest.mark.parametrize(("nonce", "signature"), [
    ("short", "a" * 64), ("a" * 32 + "\n", "a" * 64), ("a" * 32, "A" * 64), ("a" * 32, "zz"),
])
def test_malformed_nonce_or_signature_is_refused_as_bad(nonce: str, signature: str) -> None:
    forged = unlock(nonce=nonce, signature=signature)
    error = rejection(verifier(Clock()), forged)
    assert error.code == "bad_signature"
    assert error.message


def test_unsigned_is_refused() -> None:
    clock = Clock()
    assert rejection(verifier(clock), unlock()).code == "unsigned"
    signed = sign_command(unlock(), DEVICE, derive_device_key(MASTER, DEVICE))
    assert rejection(verifier(clock), signed.model_copy(update={"nonce": None})).code == "unsigned"


def test_expired_and_too_far_expiry_are_refused() -> None:
    clock = Clock()
    key = derive_device_key(MASTER, DEVICE)
    stale = sign_command(unlock(expires_at=NOW - 1), DEVICE, key)
    error = rejection(verifier(clock), stale)
    assert error.code == "expired"
    assert str(NOW) in error.message
    too_far = sign_command(unlock(expires_at=NOW + SIGNED_TTL_MAX_MS + CLOCK_SKEW_MS + 1), DEVICE, key)
    assert rejection(verifier(clock), too_far).code == "expiry_too_far"
    # Within the allowance (a controller clock slightly ahead) is accepted.
    verifier(clock).verify(sign_command(unlock(expires_at=NOW + SIGNED_TTL_MAX_MS + CLOCK_SKEW_MS),
                                        DEVICE, key))


def test_a_replayed_nonce_is_refused_until_the_command_expires() -> None:
    clock = Clock()
    check = verifier(clock)
    signed = sign_command(unlock(), DEVICE, derive_device_key(MASTER, DEVICE))
    check.verify(signed)
    assert rejection(check, signed).code == "replayed"
    # The same nonce under a new id (re-signed by someone with the key) is still a replay.
    key = derive_device_key(MASTER, DEVICE)
    again = signed.model_copy(update={"id": "new-id", "signature": None})
    again = again.model_copy(update={"signature": command_signature(key, again, DEVICE)})
    assert rejection(check, again).code == "replayed"


def test_forged_commands_do_not_use_up_the_nonce_cache() -> None:
    clock = Clock()
    nonces = NonceCache(capacity=1, clock=clock)
    check = verifier(clock, nonces)
    forged = sign_command(unlock(), DEVICE, b"y" * 32)
    for _ in range(3):
        rejection(check, forged)
    assert len(nonces) == 0
    check.verify(sign_command(unlock(), DEVICE, derive_device_key(MASTER, DEVICE)))


def test_a_full_nonce_cache_refuses_rather_than_forgets_and_frees_up_on_expiry() -> None:
    clock = Clock()
    key = derive_device_key(MASTER, DEVICE)
    check = verifier(clock, NonceCache(capacity=2, clock=clock))
    check.verify(sign_command(unlock(), DEVICE, key))
    check.verify(sign_command(unlock(), DEVICE, key))
    assert rejection(check, sign_command(unlock(), DEVICE, key)).code == "replay_window_full"
    clock.now = NOW + 5_001  # both remembered commands have expired
    check.verify(sign_command(unlock(expires_at=clock.now + 5_000), DEVICE, key))


def test_a_restarted_lock_still_refuses_a_replay_inside_the_window(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "nonces.json"
    signed = sign_command(unlock(), DEVICE, derive_device_key(MASTER, DEVICE))
    verifier(clock, NonceCache(path=path, clock=clock)).verify(signed)
    after_restart = verifier(clock, NonceCache(path=path, clock=clock))
    assert rejection(after_restart, signed).code == "replayed"
    # Past the expiry the reloaded cache drops it (and the command is refused as expired).
    clock.now = NOW + 6_000
    reloaded = NonceCache(path=path, clock=clock)
    assert len(reloaded) == 0
    assert rejection(verifier(clock, reloaded), signed).code == "expired"


@pytest.mark.parametrize("content", ["{not json", '["a"]', '{"n": "soon"}'])
def test_a_corrupt_nonce_file_refuses_signed_commands_until_the_window_passed(
        tmp_path: Path, content: str) -> None:
    clock = Clock()
    path = tmp_path / "nonces.json"
    path.write_text(content)
    check = verifier(clock, NonceCache(path=path, clock=clock))
    key = derive_device_key(MASTER, DEVICE)
    assert rejection(check, sign_command(unlock(), DEVICE, key)).code == "replay_window_unknown"
    clock.now = NOW + SIGNED_TTL_MAX_MS + CLOCK_SKEW_MS
    check.verify(sign_command(unlock(expires_at=clock.now + 5_000), DEVICE, key))


def test_keys_that_are_too_short_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        derive_device_key(b"short", DEVICE)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        CommandVerifier(b"short", DEVICE, NonceCache())


@pytest.mark.parametrize(("text", "problem"), [("zz", "hex"), ("abcd", "at least 16"), ("", "at least 16")])
def test_a_bad_command_key_in_the_environment_is_a_clear_error(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        command_key_from_hex(text)
    assert command_key_from_env({}) is None
    key = derive_device_key(MASTER, DEVICE)
    assert command_key_from_env({COMMAND_KEY_ENV: f" {key.hex()}\n"}) == key


def test_a_lock_agent_requires_signatures_for_door_methods_only() -> None:
    lock = AgentSettings(device_id=DEVICE, kind=DeviceKind.DOOR_LOCK,
                         broker_url="mqtt://127.0.0.1", durable=False)
    assert lock.methods_requiring_signature == {"door.unlock", "door.set_mode"}
    kiosk = AgentSettings(device_id="kiosk-01", kind=DeviceKind.KIOSK,
                          broker_url="mqtt://127.0.0.1", durable=False)
    assert kiosk.methods_requiring_signature == frozenset()
    assert "command_key" not in repr(AgentSettings(
        device_id=DEVICE, kind=DeviceKind.DOOR_LOCK, broker_url="mqtt://127.0.0.1",
        durable=False, command_key=b"k" * 32))
    with pytest.raises(ValueError, match="command_key"):
        AgentSettings(device_id=DEVICE, kind=DeviceKind.DOOR_LOCK, broker_url="mqtt://127.0.0.1",
                      durable=False, command_key=b"short")
