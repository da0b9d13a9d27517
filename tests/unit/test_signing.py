"""Signed commands: a lock accepts exactly the commands the controller signed for it, once."""

from __future__ import annotations

import hashlib
import hmac
import logging
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


# -- what a lock built by someone else must reproduce, and what the ack says -------------------

def test_the_signature_is_hmac_sha256_of_the_documented_text() -> None:
    # docs/protocol.md, "What is signed": 7 lines, params as canonical JSON (sorted keys, no
    # spaces, non-ASCII as UTF-8). A lock written in C computes exactly this.
    key = derive_device_key(MASTER, DEVICE)
    assert key == hmac.new(MASTER, b"hall-door-key/v1/" + DEVICE.encode(), hashlib.sha256).digest()
    command = unlock(params={"reason": "访客", "b": [1, 2], "a": {"z": 1, "y": None}},
                     nonce="9f86d081884c7d659a2feaa0c55ad015")
    text = ("v1\nlock-3-101\nb3d1c6a2-5e8f-4a7b-9c0d-1e2f3a4b5c6d\ndoor.unlock\n"
            f"{NOW + 5_000}\n9f86d081884c7d659a2feaa0c55ad015\n"
            '{"a":{"y":null,"z":1},"b":[1,2],"reason":"访客"}')
    expected = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    assert command_signature(key, command, DEVICE) == expected
    verifier(Clock()).verify(command.model_copy(update={"signature": expected}))


def test_one_key_signing_for_another_device_id_is_still_forged() -> None:
    # A lock cloned with its neighbour's key still checks that the command names it.
    key = derive_device_key(MASTER, DEVICE)
    check = CommandVerifier(key, DEVICE, NonceCache(clock=Clock()), clock=Clock())
    assert rejection(check, sign_command(unlock(), "lock-3-102", key)).code == "bad_signature"


def test_keys_of_exactly_16_bytes_are_enough() -> None:
    assert len(derive_device_key(b"m" * 16, DEVICE)) == 32
    CommandVerifier(b"k" * 16, DEVICE, NonceCache())


def test_a_command_is_accepted_up_to_its_last_millisecond() -> None:
    clock = Clock()
    signed = sign_command(unlock(), DEVICE, derive_device_key(MASTER, DEVICE))
    clock.now = signed.expires_at
    verifier(clock).verify(signed)


@pytest.mark.parametrize(("command", "code", "message"), [
    (unlock(), "unsigned", "door.unlock needs a nonce and a signature"),
    (unlock(nonce="short", signature="a" * 64), "bad_signature",
     "the nonce must be 16-128 characters of [A-Za-z0-9_-]"),
    (unlock(nonce="a" * 32, signature="A" * 64), "bad_signature",
     "the signature must be 64 lowercase hex digits (HMAC-SHA256)"),
    (unlock(nonce="a" * 32, signature="a" * 64), "bad_signature",
     "the signature does not match this command for lock-3-101"),
])
def test_the_ack_says_why_a_command_was_refused(command: Command, code: str, message: str) -> None:
    error = rejection(verifier(Clock()), command)
    assert (error.code, error.message) == (code, message)
    assert str(error) == f"{code}: {message}"


def test_the_ack_of_a_too_far_expiry_gives_the_allowance() -> None:
    key = derive_device_key(MASTER, DEVICE)
    too_far = sign_command(unlock(expires_at=NOW + 12_001), DEVICE, key)
    assert rejection(verifier(Clock()), too_far).message == (
        f"expires_at {NOW + 12_001} is more than 10000 ms (+2000 ms skew) after {NOW}")


def test_the_ack_of_a_replay_or_a_full_cache_says_so() -> None:
    clock = Clock()
    key = derive_device_key(MASTER, DEVICE)
    check = verifier(clock, NonceCache(capacity=1, clock=clock))
    signed = sign_command(unlock(), DEVICE, key)
    check.verify(signed)
    assert rejection(check, signed).message == "this nonce was already used"
    full = rejection(check, sign_command(unlock(), DEVICE, key))
    assert full.message == "1 signed commands in the last 10000 ms; refusing more until some expire"


def test_a_nonce_holds_its_place_until_its_command_has_expired() -> None:
    clock = Clock()
    key = derive_device_key(MASTER, DEVICE)
    check = verifier(clock, NonceCache(capacity=1, clock=clock))
    check.verify(sign_command(unlock(), DEVICE, key))
    clock.now = NOW + 5_000  # the first command's last valid millisecond
    assert rejection(check, sign_command(unlock(expires_at=clock.now + 5_000), DEVICE, key)).code == (
        "replay_window_full")


def test_a_restarted_lock_refuses_replays_up_to_the_last_millisecond(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "nonces.json"
    key = derive_device_key(MASTER, DEVICE)
    first, second = sign_command(unlock(), DEVICE, key), sign_command(unlock(), DEVICE, key)
    before = verifier(clock, NonceCache(path=path, clock=clock))
    before.verify(first)
    before.verify(second)
    clock.now = NOW + 5_000
    after_restart = verifier(clock, NonceCache(path=path, clock=clock))
    assert [rejection(after_restart, c).code for c in (first, second)] == ["replayed", "replayed"]


def test_a_lock_that_cannot_record_the_nonce_refuses_the_command(tmp_path: Path) -> None:
    path = tmp_path / "gone" / "nonces.json"  # its folder is missing: every write fails
    clock = Clock()
    check = verifier(clock, NonceCache(path=path, clock=clock))
    error = rejection(check, sign_command(unlock(), DEVICE, derive_device_key(MASTER, DEVICE)))
    assert error.code == "replay_window_unknown"
    assert error.message.startswith(f"cannot record the nonce in {path}: ")
    assert not path.parent.exists()


def test_a_lock_blind_after_a_corrupt_file_says_until_when_and_logs_why(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    path = tmp_path / "nonces.json"
    path.write_text('{"n": "soon"}')
    with caplog.at_level(logging.WARNING, logger="devices.signing"):
        check = verifier(clock, NonceCache(path=path, clock=clock))
    until = NOW + SIGNED_TTL_MAX_MS + CLOCK_SKEW_MS
    assert caplog.messages == [
        f"nonce cache unusable ({path} is corrupt: expected an object of nonce -> expires_at): "
        f"refusing signed commands until {until}"]
    key = derive_device_key(MASTER, DEVICE)
    clock.now = until - 1  # past the 10 s lifetime, not yet past the clock-skew allowance
    error = rejection(check, sign_command(unlock(expires_at=clock.now + 5_000), DEVICE, key))
    assert error.message == f"the lock lost its record of recent commands; retry after {until}"


def test_an_unreadable_nonce_file_is_logged_with_the_reason(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "nonces.json"
    path.mkdir()  # a folder where the file should be: reading fails
    with caplog.at_level(logging.WARNING, logger="devices.signing"):
        NonceCache(path=path, clock=Clock())
    assert len(caplog.messages) == 1
    assert caplog.messages[0].startswith(f"nonce cache unusable (cannot read {path}: ")


def test_a_nonce_cache_needs_room_for_one() -> None:
    with pytest.raises(ValueError, match=r"^capacity must be positive$"):
        NonceCache(capacity=0)
