"""Browser kiosk keys: one random key per kiosk, issued by an admin, stored only as a hash,
listed, revocable, and rate-limited per key and per client address.

A key reads ``kk_<key_id>_<secret>`` and is bound to one kiosk's device id: the key id finds
the record, the secret proves possession. Only a SHA-256 of the secret is stored. A slow
password hash (argon2) would buy nothing: the secret is 256 random bits, not something a person
chose, so its hash cannot be reversed by guessing, and a fast hash keeps every kiosk request
cheap (a kiosk presents its key on every request).

Rate limits (``KioskLimits``) are counted in memory in this controller process, like the login
throttle (``hall_controller.users.rules``): requests per key, requests per client address, and
wrong keys per client address. They stop a stolen key from emptying the day's numbers and an
address from trying keys at speed; a 256-bit secret cannot be guessed, so the failure limit is
there to keep the noise down and make a guessing address visible in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from devices.contract import now_ms

logger = logging.getLogger(__name__)

KEY_PREFIX = "kk_"
_KEY = re.compile(r"^kk_([a-z0-9]{12})_([A-Za-z0-9_-]{20,128})$")
# ``last used`` is written at most this often per key: not one database write per request.
LAST_USED_EVERY_MS = 60_000


@dataclass(frozen=True, slots=True)
class KioskKey:
    key_id: str          # the public part of the key
    device_id: str       # the kiosk the key is for; the key works for this device id only
    name: str            # where the kiosk stands, e.g. "一楼大厅 左"
    secret_hash: str     # sha256 hex of the secret part
    created_ms: int
    created_by: str
    last_used_ms: int | None = None
    revoked_ms: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_ms is None


class KioskKeyStore(Protocol):
    async def insert_kiosk_key(self, key: KioskKey) -> None: ...

    async def get_kiosk_key(self, key_id: str) -> KioskKey | None: ...

    async def list_kiosk_keys(self) -> list[KioskKey]:
        """Every key, revoked ones too, newest first."""
        ...

    async def revoke_kiosk_key(self, key_id: str, at_ms: int) -> KioskKey:
        """Raises NotFound. A key revoked before keeps its first revocation time."""
        ...

    async def mark_kiosk_key_used(self, key_id: str, at_ms: int) -> None:
        """Records a use; ``last_used_ms`` never goes back."""
        ...


@dataclass(frozen=True, slots=True)
class KioskLimits:
    """Requests per key and per address, and wrong keys per address, each in ``window_s``.

    A busy kiosk takes a ticket every ten seconds or so and loads its services now and then:
    60 a minute leaves it room. An address may hold several kiosks behind one NAT."""

    requests_per_key: int = 60
    requests_per_address: int = 240
    failures_per_address: int = 10
    window_s: float = 60.0
    tracked_keys: int = 10_000


@dataclass(slots=True)
class WindowCounter:
    """Events per key in a sliding window of ``window_s``; at most ``limit`` allowed. Keeps at
    most ``tracked_keys`` keys, the least recently counted dropped first (as the login
    throttle does), so made-up addresses or key ids cannot exhaust memory. Pure: ``now`` is
    handed in."""

    limit: int
    window_s: float
    tracked_keys: int = 10_000
    _events: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict, init=False)

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may count another event; 0 when it may now."""
        events = self._events.get(key)
        if events is None:
            return 0.0
        self._expire(events, now)
        if len(events) < self.limit:
            return 0.0
        return max(0.0, events[0] + self.window_s - now)

    def record(self, key: str, now: float) -> None:
        events = self._events.pop(key, None)
        if events is None:
            events = deque(maxlen=self.limit)
        self._expire(events, now)
        events.append(now)
        while len(self._events) >= self.tracked_keys:
            self._events.popitem(last=False)
        self._events[key] = events

    def _expire(self, events: deque[float], now: float) -> None:
        while events and events[0] <= now - self.window_s:
            events.popleft()


class KioskRefused(Exception):
    """The kiosk's request is refused: no such active key for this device id."""


class KioskThrottled(KioskRefused):
    """Too many requests (for the key or from the address), or too many wrong keys."""

    def __init__(self, reason: str, retry_after_s: float) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class IssuedKioskKey:
    key: KioskKey
    plaintext: str   # shown once, at creation; not stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KioskKeyService:
    """Issue, list, revoke and check browser kiosk keys."""

    def __init__(self, store: KioskKeyStore, limits: KioskLimits | None = None, *,
                 clock: Callable[[], int] = now_ms,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self.limits = limits or KioskLimits()
        self._clock = clock
        self._monotonic = monotonic
        lim = self.limits
        self._per_key = WindowCounter(lim.requests_per_key, lim.window_s, lim.tracked_keys)
        self._per_address = WindowCounter(lim.requests_per_address, lim.window_s,
                                          lim.tracked_keys)
        self._failures = WindowCounter(lim.failures_per_address, lim.window_s, lim.tracked_keys)
        self._last_marked: dict[str, int] = {}

    async def create(self, device_id: str, name: str, created_by: str) -> IssuedKioskKey:
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = KioskKey(key_id=key_id, device_id=device_id, name=name,
                       secret_hash=_hash(secret), created_ms=self._clock(),
                       created_by=created_by)
        await self._store.insert_kiosk_key(key)
        logger.info("kiosk key %s for %s created by %s", key_id, device_id, created_by,
                    extra={"key_id": key_id, "device_id": device_id, "by": created_by})
        return IssuedKioskKey(key, f"{KEY_PREFIX}{key_id}_{secret}")

    async def list_keys(self) -> list[KioskKey]:
        return await self._store.list_kiosk_keys()

    async def revoke(self, key_id: str, by: str) -> KioskKey:
        """Raises NotFound. The kiosk is refused from its next request on."""
        key = await self._store.revoke_kiosk_key(key_id, self._clock())
        logger.info("kiosk key %s of %s revoked by %s", key_id, key.device_id, by,
                    extra={"key_id": key_id, "device_id": key.device_id, "by": by})
        return key

    async def authenticate(self, device_id: str, presented: str, address: str) -> KioskKey:
        """The active key of ``device_id`` that ``presented`` is. Raises KioskThrottled when
        the address or the key is over its limit, KioskRefused when the key is malformed,
        unknown, wrong, another kiosk's or revoked."""
        now = self._monotonic()
        wait = max(self._per_address.retry_after(address, now),
                   self._failures.retry_after(address, now))
        if wait > 0:
            logger.warning("kiosk requests from %s throttled", address,
                           extra={"address": address, "device_id": device_id})
            raise KioskThrottled("too many kiosk requests from this address", wait)
        self._per_address.record(address, now)
        key = await self._resolve(device_id, presented)
        if key is None:
            self._failures.record(address, now)
            logger.warning("kiosk key refused for %r from %s", device_id, address,
                           extra={"address": address, "device_id": device_id})
            raise KioskRefused("no such active kiosk key for this device")
        wait = self._per_key.retry_after(key.key_id, now)
        if wait > 0:
            logger.warning("kiosk key %s of %s throttled", key.key_id, device_id,
                           extra={"key_id": key.key_id, "device_id": device_id})
            raise KioskThrottled("too many requests with this kiosk key", wait)
        self._per_key.record(key.key_id, now)
        at = self._clock()
        if at - self._last_marked.get(key.key_id, 0) >= LAST_USED_EVERY_MS:
            self._last_marked[key.key_id] = at
            await self._store.mark_kiosk_key_used(key.key_id, at)
        return key

    async def _resolve(self, device_id: str, presented: str) -> KioskKey | None:
        match = _KEY.match(presented.strip())
        if match is None:
            return None
        key = await self._store.get_kiosk_key(match[1])
        # Constant time, so response timing does not reveal a prefix of the hash.
        if key is None or not hmac.compare_digest(key.secret_hash, _hash(match[2])):
            return None
        if key.device_id != device_id or not key.active:
            return None
        return key
