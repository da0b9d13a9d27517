"""Signed ``access.sync`` replies: the controller signs what a gate or lock will decide from.

A gate or lock applies the policy (and, for a gate, the face gallery) that arrives on its
``res`` topic; anything that can publish there could otherwise hand it a policy letting anyone
in. So the controller signs each reply with the device's own key, the one it already holds
for signed door commands (``devices.signing``), and the device verifies it before applying
anything (``verify_policy_reply``).

The ``signature`` block of a reply::

    {"format": 1, "device_id": "lock-3-101", "version": 42, "issued_at": ms, "expires_at": ms,
     "digest": "<sha256 hex of the reply without its signature block>", "mac": "<hmac hex>"}

``mac`` is HMAC-SHA256 with the device key over ``SignedFields.text()``: the format, device id,
version, issued_at, expires_at and digest, one per line. The digest covers every other field
of the reply (``version``, ``changed``, ``policy``, ``gallery``) in canonical JSON, so nothing
in it can be changed, added or dropped.

``expires_at`` bounds how long a reply may be *applied* (an old reply replayed later is
refused), not how long a device decides from a policy it holds: a gate keeps deciding from its
last verified policy while the controller is away. A version lower than the one held is a
rollback and refused; the same version again is accepted as a no-op.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devices.signing import MIN_KEY_BYTES, canonical_json

POLICY_FORMAT = 1
POLICY_REPLY_TTL_MS = 10 * 60_000
"""How long a signed reply may be applied: a device whose clock runs a few minutes behind
still applies a fresh one; a recorded reply is useless ten minutes later."""
SIGNATURE_FIELD = "signature"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")

DeviceKeys = Callable[[str], bytes | None]
"""Device id → the key that device holds for signed commands and policies, or None when it has
none. Today ``devices.signing.derived_keys``; provisioned per-device keys plug in here."""


class PolicyRefused(Exception):
    """An ``access.sync`` reply the device must not apply.

    ``code`` is one of ``unsigned``, ``no_key``, ``malformed``, ``wrong_device``,
    ``bad_signature``, ``expired``, ``rollback``; the device reports it to the controller in an
    ``access.policy_refused`` event.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class CheckedReply:
    """A reply the device may act on: ``version`` is what it offers; ``news`` is false when
    the device already holds that version (a re-sent reply, nothing to apply); ``signed`` is
    false only for the unsigned reply a device without a key accepts (demo and development)."""

    version: int
    news: bool
    signed: bool


def reply_digest(result: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the reply without its signature block."""
    content = {k: v for k, v in result.items() if k != SIGNATURE_FIELD}
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedFields:
    """What the MAC covers, besides the key."""

    device_id: str
    version: int
    issued_at: int
    expires_at: int
    digest: str
    format_version: int = POLICY_FORMAT

    def text(self) -> bytes:
        """The canonical encoding: one field a line, so no field can run into the next."""
        return (f"hall-policy/v{self.format_version}\n{self.device_id}\n{self.version}\n"
                f"{self.issued_at}\n{self.expires_at}\n{self.digest}").encode()

    def mac(self, key: bytes) -> str:
        return hmac.new(key, self.text(), hashlib.sha256).hexdigest()


def sign_policy_reply(result: Mapping[str, Any], device_id: str, key: bytes, *, issued_at: int,
                      ttl_ms: int = POLICY_REPLY_TTL_MS) -> dict[str, Any]:
    """``result`` (an ``access.sync`` result with its ``version``) with a signature block for
    ``device_id``, valid from ``issued_at`` for ``ttl_ms``."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a device key must be at least {MIN_KEY_BYTES} bytes")
    fields = SignedFields(device_id, result["version"], issued_at, issued_at + ttl_ms,
                          reply_digest(result))
    unsigned = {k: v for k, v in result.items() if k != SIGNATURE_FIELD}
    return {**unsigned, SIGNATURE_FIELD: {
        "format": fields.format_version, "device_id": device_id, "version": fields.version,
        "issued_at": fields.issued_at, "expires_at": fields.expires_at,
        "digest": fields.digest, "mac": fields.mac(key)}}


def verify_policy_reply(result: Mapping[str, Any], *, device_id: str, key: bytes | None,
                        held_version: int | None, now_ms: int) -> CheckedReply:
    """May this device act on ``result``? Raises PolicyRefused saying why not.

    Order: the signature before time and version, so a forgery learns nothing about the
    device's clock or what it holds. A device without a key accepts only an unsigned reply
    (a controller without a secret: demo and development) and refuses a signed one it cannot
    check; a device with a key never accepts an unsigned one.
    """
    offered = _offered_version(result)
    block = result.get(SIGNATURE_FIELD)
    if block is None:
        if key is not None:
            raise PolicyRefused("unsigned", "this device has a key and accepts signed policies only")
        return CheckedReply(offered, held_version is None or offered != held_version, signed=False)
    if key is None:
        raise PolicyRefused("no_key", "the reply is signed but this device has no key to check it")
    if not isinstance(block, Mapping):
        raise PolicyRefused("malformed", "signature: expected an object")
    fmt = _int_field(block, "format")
    if fmt != POLICY_FORMAT:
        raise PolicyRefused("malformed", f"signature.format: {fmt} is not {POLICY_FORMAT}")
    signed_for = block.get("device_id")
    if not isinstance(signed_for, str):
        raise PolicyRefused("malformed", "signature.device_id: expected a string")
    version = _int_field(block, "version")
    issued_at = _int_field(block, "issued_at")
    expires_at = _int_field(block, "expires_at")
    digest, mac = block.get("digest"), block.get("mac")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise PolicyRefused("malformed", "signature.digest: expected 64 lowercase hex digits")
    if not isinstance(mac, str) or not _HEX64.fullmatch(mac):
        raise PolicyRefused("malformed", "signature.mac: expected 64 lowercase hex digits")
    if signed_for != device_id:
        raise PolicyRefused("wrong_device", f"signed for {signed_for[:64]!r}, not {device_id}")
    expected = SignedFields(device_id, version, issued_at, expires_at, digest).mac(key)
    if not hmac.compare_digest(expected, mac):
        raise PolicyRefused("bad_signature", f"the signature does not match for {device_id}")
    if not hmac.compare_digest(reply_digest(result), digest):
        raise PolicyRefused("bad_signature", "the reply's content is not what was signed")
    if version != offered:
        raise PolicyRefused("malformed", f"signature.version {version} is not the reply's {offered}")
    if now_ms > expires_at:
        raise PolicyRefused("expired", f"the reply expired at {expires_at}, now is {now_ms}")
    if held_version is not None and version < held_version:
        raise PolicyRefused("rollback", f"version {version} is older than the held {held_version}")
    return CheckedReply(version, held_version is None or version != held_version, signed=True)


def _offered_version(result: Mapping[str, Any]) -> int:
    version = result.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise PolicyRefused("malformed", "version: expected an integer")
    policy = result.get("policy")
    if result.get("changed") and isinstance(policy, Mapping) and policy.get("version") != version:
        raise PolicyRefused("malformed", f"policy.version is not the reply's version {version}")
    return version


def _int_field(block: Mapping[str, Any], name: str) -> int:
    value = block.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PolicyRefused("malformed", f"signature.{name}: expected an integer")
    return value
