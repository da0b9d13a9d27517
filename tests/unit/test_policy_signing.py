"""Signed access policies: a gate or lock applies exactly what the controller signed for it,
no older than what it holds and not after the reply expired."""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

import pytest

from devices.policy_signing import (
    POLICY_REPLY_TTL_MS,
    CheckedReply,
    PolicyRefused,
    sign_policy_reply,
    verify_policy_reply,
)
from devices.signing import derive_device_key, derived_keys

MASTER = b"controller-master-secret-for-tests"
GATE = "gate-hall-1"
NOW = 1_795_860_000_000
KEY = derive_device_key(MASTER, GATE)


def reply(version: int = 7, **extra: Any) -> dict[str, Any]:
    policy = {"version": version, "timezone": "Asia/Shanghai", "mode": "normal", "holidays": [],
              "schedules": {}, "people": [{"person_id": "s2026001", "schedules": ["always"],
                                           "valid_from_ms": None, "valid_until_ms": None,
                                           "cards": ["2026000001"]}]}
    gallery = {"version": version, "people": [{"person_id": "s2026001",
                                               "embeddings": ["AAAAAAAAAAA="]}]}
    return {"version": version, "changed": True, "policy": policy, "gallery": gallery, **extra}


def signed(version: int = 7, *, device_id: str = GATE, key: bytes = KEY,
           issued_at: int = NOW) -> dict[str, Any]:
    return sign_policy_reply(reply(version), device_id, key, issued_at=issued_at)


def refusal(result: dict[str, Any], *, key: bytes | None = KEY, held: int | None = None,
            now: int = NOW, device_id: str = GATE) -> str:
    with pytest.raises(PolicyRefused) as info:
        verify_policy_reply(result, device_id=device_id, key=key, held_version=held, now_ms=now)
    return info.value.code


def check(result: dict[str, Any], *, key: bytes | None = KEY, held: int | None = None,
          now: int = NOW) -> CheckedReply:
    return verify_policy_reply(result, device_id=GATE, key=key, held_version=held, now_ms=now)


def test_a_reply_signed_for_this_device_is_accepted_and_newer_than_what_it_holds() -> None:
    assert check(signed(7)) == CheckedReply(7, news=True, signed=True)
    assert check(signed(7), held=6) == CheckedReply(7, news=True, signed=True)
    # The same version again (a re-sent reply, a refresh with nothing new): accepted, no-op.
    assert check(signed(7), held=7) == CheckedReply(7, news=False, signed=True)
    unchanged = sign_policy_reply({"version": 7, "changed": False}, GATE, KEY, issued_at=NOW)
    assert check(unchanged, held=7) == CheckedReply(7, news=False, signed=True)


# Each path names one field an attacker could change, and what it is changed to.
TAMPERED: list[tuple[str, tuple[Any, ...], object]] = [
    ("the version", ("version",), 8),
    ("changed", ("changed",), False),
    ("a person's schedules", ("policy", "people", 0, "schedules"), ["always", "night"]),
    ("a card", ("policy", "people", 0, "cards"), ["9999999999"]),
    ("the door mode", ("policy", "mode"), "free_pass"),
    ("a pass expiry", ("policy", "people", 0, "valid_until_ms"), NOW + 1),
    ("a face embedding", ("gallery", "people", 0, "embeddings"), ["BBBBBBBBBBB="]),
    ("the signed version", ("signature", "version"), 8),
    ("the issue time", ("signature", "issued_at"), NOW + 1),
    ("the expiry", ("signature", "expires_at"), NOW + 10 * POLICY_REPLY_TTL_MS),
    ("the digest", ("signature", "digest"), "0" * 64),
    ("the mac", ("signature", "mac"), "0" * 64),
]


@pytest.mark.parametrize(("what", "path", "value"), TAMPERED, ids=[t[0] for t in TAMPERED])
def test_changing_any_field_breaks_the_signature(what: str, path: tuple[Any, ...],
                                                 value: object) -> None:
    result = signed(7)
    tampered = copy.deepcopy(result)
    target: Any = tampered
    for step in path[:-1]:
        target = target[step]
    assert target[path[-1]] != value, what
    target[path[-1]] = value
    assert refusal(tampered) in {"bad_signature", "malformed"}
    # The untouched reply still verifies: it is the change that is refused.
    assert check(result).version == 7


def test_a_field_added_or_dropped_breaks_the_signature() -> None:
    added = {**signed(7), "extra": {"free_pass": True}}
    assert refusal(added) == "bad_signature"
    dropped = signed(7)
    del dropped["gallery"]
    assert refusal(dropped) == "bad_signature"


def test_a_reply_signed_for_another_device_is_refused_even_with_the_same_key() -> None:
    # Two devices wrongly given one key still cannot take each other's policies.
    assert refusal(signed(7, device_id="gate-dorm-2")) == "wrong_device"
    forged = signed(7, device_id="gate-dorm-2")
    forged["signature"]["device_id"] = GATE  # relabelled: the MAC was made for the other id
    assert refusal(forged) == "bad_signature"
    # A reply signed with the other device's own key does not verify here either.
    other = signed(7, key=derive_device_key(MASTER, "gate-dorm-2"))
    assert refusal(other) == "bad_signature"


def test_an_expired_reply_is_refused() -> None:
    result = signed(7, issued_at=NOW)
    assert check(result, now=NOW + POLICY_REPLY_TTL_MS).version == 7
    assert refusal(result, now=NOW + POLICY_REPLY_TTL_MS + 1) == "expired"


def test_an_older_version_than_the_one_held_is_a_rollback() -> None:
    assert refusal(signed(6), held=7) == "rollback"
    unchanged = sign_policy_reply({"version": 6, "changed": False}, GATE, KEY, issued_at=NOW)
    assert refusal(unchanged, held=7) == "rollback"


def test_signature_comes_before_time_and_version() -> None:
    # A forgery learns nothing about the device's clock or what it holds.
    stale = signed(6, issued_at=NOW - 2 * POLICY_REPLY_TTL_MS)
    stale["signature"]["mac"] = "f" * 64
    assert refusal(stale, held=7) == "bad_signature"


def test_a_device_with_a_key_refuses_an_unsigned_reply() -> None:
    assert refusal(reply(7)) == "unsigned"
    assert refusal({"version": 7, "changed": False}, held=7) == "unsigned"


def test_a_device_without_a_key_takes_only_an_unsigned_reply() -> None:
    # Demo and development: a controller without a secret signs nothing.
    assert check(reply(3), key=None, held=9) == CheckedReply(3, news=True, signed=False)
    assert refusal(signed(7), key=None) == "no_key"


@pytest.mark.parametrize("block", [
    "not an object", {}, {"format": 2}, {"format": 1, "device_id": 5},
    {"format": 1, "device_id": GATE, "version": "7", "issued_at": NOW, "expires_at": NOW,
     "digest": "0" * 64, "mac": "0" * 64},
    {"format": 1, "device_id": GATE, "version": 7, "issued_at": True, "expires_at": NOW,
     "digest": "0" * 64, "mac": "0" * 64},
    {"format": 1, "device_id": GATE, "version": 7, "issued_at": NOW, "expires_at": NOW,
     "digest": "0" * 63, "mac": "0" * 64},
    {"format": 1, "device_id": GATE, "version": 7, "issued_at": NOW, "expires_at": NOW,
     "digest": "0" * 64, "mac": "A" * 64},
])
def test_a_malformed_signature_block_is_refused(block: object) -> None:
    assert refusal({**reply(7), "signature": block}) == "malformed"


def test_a_reply_whose_policy_version_differs_from_its_own_is_refused() -> None:
    odd = reply(7)
    odd["policy"]["version"] = 99
    assert refusal(sign_policy_reply(odd, GATE, KEY, issued_at=NOW)) == "malformed"
    assert refusal({"version": "7", "changed": False}) == "malformed"


def test_the_derived_key_source_gives_each_device_its_command_key() -> None:
    keys = derived_keys(MASTER)
    assert keys(GATE) == KEY
    assert keys("lock-3-101") == derive_device_key(MASTER, "lock-3-101") != KEY
    with pytest.raises(ValueError, match="at least"):
        derived_keys(b"short")


def test_the_signature_is_hmac_sha256_of_the_documented_text() -> None:
    # docs/protocol.md, "Signed replies": 6 lines; the digest is SHA-256 of the result without
    # its signature, in canonical JSON. A lock written in C computes exactly this.
    result = {"version": 41, "changed": False, "policy": {"名": "访客", "a": [1, 2]}}
    content = '{"changed":false,"policy":{"a":[1,2],"名":"访客"},"version":41}'
    digest = hashlib.sha256(content.encode()).hexdigest()
    text = f"hall-policy/v1\n{GATE}\n41\n{NOW}\n{NOW + POLICY_REPLY_TTL_MS}\n{digest}"
    block = sign_policy_reply(result, GATE, KEY, issued_at=NOW)["signature"]
    assert block == {"format": 1, "device_id": GATE, "version": 41, "issued_at": NOW,
                     "expires_at": NOW + POLICY_REPLY_TTL_MS, "digest": digest,
                     "mac": hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()}
