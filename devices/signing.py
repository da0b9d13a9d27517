"""Signed door commands: HMAC-SHA256 over a canonical text, a short expiry and a one-time nonce.

The controller keeps one master secret; each lock is provisioned with its own derived key only
(``derive_device_key``), so a lock taken off the wall reveals nothing about the others.  A lock
refuses a command that is unsigned, forged, expired, valid for too long, or replayed
(``CommandVerifier``).  Signed commands live at most ``SIGNED_TTL_MAX_MS``, which bounds how
long a lock must remember a nonce.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devices.contract import Command, now_ms
from devices.kinds import DeviceKind

logger = logging.getLogger(__name__)

SIGNED_TTL_MAX_MS = 10_000
CLOCK_SKEW_MS = 2_000
"""How far ahead of the lock's clock the controller's may run before ``expiry_too_far``."""
KEY_DERIVATION_LABEL = b"hall-door-key/v1/"
MIN_KEY_BYTES = 16
DEFAULT_NONCE_CAPACITY = 4096

SIGNED_METHODS: dict[DeviceKind, frozenset[str]] = {
    DeviceKind.DOOR_LOCK: frozenset({"door.unlock", "door.set_mode"}),
    # A face gate's turnstile is a door too: released remotely only by a signed command.
    DeviceKind.FACE_GATE: frozenset({"door.unlock", "door.set_mode"}),
}
"""Methods an agent of each kind executes only with a valid signature."""

_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")

Clock = Callable[[], int]


class CommandRejected(Exception):
    """A signed command the device must not execute.

    ``code`` is one of ``unsigned``, ``no_key``, ``bad_signature``, ``expired``,
    ``expiry_too_far``, ``replayed``, ``replay_window_full``, ``replay_window_unknown``;
    it becomes the ack's error code, so the controller can audit why.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def derive_device_key(master_secret: bytes, device_id: str) -> bytes:
    """The key one device is provisioned with: HMAC-SHA256(master, label + device id)."""
    if len(master_secret) < MIN_KEY_BYTES:
        raise ValueError(f"the master secret must be at least {MIN_KEY_BYTES} bytes")
    return hmac.new(master_secret, KEY_DERIVATION_LABEL + device_id.encode(), hashlib.sha256).digest()


def derived_keys(master_secret: bytes) -> Callable[[str], bytes | None]:
    """Device id → its derived key: how the controller finds the key a device holds, for its
    signed commands and signed policies (``devices.policy_signing.DeviceKeys``)."""
    if len(master_secret) < MIN_KEY_BYTES:
        raise ValueError(f"the master secret must be at least {MIN_KEY_BYTES} bytes")

    def key_for(device_id: str) -> bytes | None:
        return derive_device_key(master_secret, device_id)
    return key_for


def canonical_json(params: dict[str, Any]) -> str:
    """The one JSON spelling of ``params`` that both sides sign."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def signed_text(command: Command, device_id: str) -> bytes:
    """What the signature covers; the device id binds a command to one lock."""
    text = (f"v1\n{device_id}\n{command.id}\n{command.method}\n{command.expires_at}\n"
            f"{command.nonce or ''}\n{canonical_json(command.params)}")
    return text.encode()


def command_signature(key: bytes, command: Command, device_id: str) -> str:
    """The signature of ``command`` (with its nonce as it is) for ``device_id``."""
    return hmac.new(key, signed_text(command, device_id), hashlib.sha256).hexdigest()


def sign_command(command: Command, device_id: str, key: bytes) -> Command:
    """A copy of ``command`` with a fresh nonce and its signature for ``device_id``."""
    with_nonce = command.model_copy(update={"nonce": secrets.token_hex(16), "signature": None})
    return with_nonce.model_copy(update={"signature": command_signature(key, with_nonce, device_id)})


class NonceCache:
    """The nonces of accepted commands, each remembered until its command expires.

    Bounded: when ``capacity`` unexpired nonces are held, a new one is *refused*
    (``replay_window_full``) rather than an old one forgotten, because forgetting a live nonce
    would let its command be replayed.  With a 10 s lifetime a full cache means thousands of
    unlocks in 10 s: an attack or a bug, and refusing remote unlocks then is the safe side
    (egress never depends on it).

    With ``path``, every accepted nonce is written to that file (atomically) before the command
    runs, so a restarted lock still refuses a replay inside the window.  An unreadable file
    makes the cache refuse everything (``replay_window_unknown``) until any command it might
    have held has expired.
    """

    def __init__(self, capacity: int = DEFAULT_NONCE_CAPACITY, path: Path | None = None,
                 clock: Clock = now_ms) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._path = path
        self._clock = clock
        self._expiry_by_nonce: dict[str, int] = {}
        self._blind_until = 0
        if path is not None:
            self._load(path)

    def __len__(self) -> int:
        return len(self._expiry_by_nonce)

    def _load(self, path: Path) -> None:
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            self._go_blind(f"cannot read {path}: {exc}")
            return
        try:
            loaded = json.loads(raw)
            if not isinstance(loaded, dict) or not all(
                    isinstance(k, str) and type(v) is int for k, v in loaded.items()):
                raise ValueError("expected an object of nonce -> expires_at")
        except ValueError as exc:
            self._go_blind(f"{path} is corrupt: {exc}")
            return
        now = self._clock()
        self._expiry_by_nonce = {k: v for k, v in loaded.items() if v >= now}

    def _go_blind(self, why: str) -> None:
        self._blind_until = self._clock() + SIGNED_TTL_MAX_MS + CLOCK_SKEW_MS
        logger.warning("nonce cache unusable (%s): refusing signed commands until %d", why,
                       self._blind_until)

    def _forget_expired(self, now: int) -> None:
        expired = [n for n, at in self._expiry_by_nonce.items() if at < now]
        for nonce in expired:
            del self._expiry_by_nonce[nonce]

    def check_and_remember(self, nonce: str, expires_at: int) -> None:
        """Remember ``nonce`` until ``expires_at``; raises CommandRejected if it was seen."""
        now = self._clock()
        if now < self._blind_until:
            raise CommandRejected("replay_window_unknown",
                                  "the lock lost its record of recent commands; retry after "
                                  f"{self._blind_until}")
        if nonce in self._expiry_by_nonce:
            raise CommandRejected("replayed", "this nonce was already used")
        self._forget_expired(now)
        if len(self._expiry_by_nonce) >= self._capacity:
            raise CommandRejected("replay_window_full",
                                  f"{self._capacity} signed commands in the last "
                                  f"{SIGNED_TTL_MAX_MS} ms; refusing more until some expire")
        self._expiry_by_nonce[nonce] = expires_at
        if self._path is not None:
            self._save(self._path)

    def _save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        try:
            with tmp.open("w", encoding="utf-8") as f:
                json.dump(self._expiry_by_nonce, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            # Executing a command we could not record would let it be replayed after a restart.
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise CommandRejected("replay_window_unknown",
                                  f"cannot record the nonce in {path}: {exc}") from None


class CommandVerifier:
    """Checks a signed command for one device; ``verify`` raises CommandRejected."""

    def __init__(self, key: bytes, device_id: str, nonces: NonceCache,
                 clock: Clock = now_ms) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"a command key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self._device_id = device_id
        self._nonces = nonces
        self._clock = clock

    def verify(self, command: Command) -> None:
        """Accept ``command`` once, or raise CommandRejected saying why not.

        Order: signature before time, so a forged command learns nothing about the lock's
        clock; the nonce is recorded last, so forged or stale commands cannot fill the cache.
        """
        if command.signature is None or command.nonce is None:
            raise CommandRejected("unsigned", f"{command.method} needs a nonce and a signature")
        if not _NONCE_RE.fullmatch(command.nonce):
            raise CommandRejected("bad_signature",
                                  "the nonce must be 16-128 characters of [A-Za-z0-9_-]")
        if not _SIGNATURE_RE.fullmatch(command.signature):
            raise CommandRejected("bad_signature",
                                  "the signature must be 64 lowercase hex digits (HMAC-SHA256)")
        expected = command_signature(self._key, command, self._device_id)
        if not hmac.compare_digest(expected, command.signature):
            raise CommandRejected("bad_signature",
                                  f"the signature does not match this command for {self._device_id}")
        now = self._clock()
        if command.expires_at < now:
            raise CommandRejected("expired",
                                  f"the command expired at {command.expires_at}, now is {now}")
        latest = now + SIGNED_TTL_MAX_MS + CLOCK_SKEW_MS
        if command.expires_at > latest:
            raise CommandRejected("expiry_too_far",
                                  f"expires_at {command.expires_at} is more than "
                                  f"{SIGNED_TTL_MAX_MS} ms (+{CLOCK_SKEW_MS} ms skew) after {now}")
        self._nonces.check_and_remember(command.nonce, command.expires_at)
