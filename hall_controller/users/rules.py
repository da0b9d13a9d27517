"""Login throttling: failed logins counted per username and per client address, and lockouts
that grow.

A key (a username, or a client address) collects its failed logins in a sliding window of
``failure_window_s``. When it holds ``max_failures`` of them (per user and per address, each
its own limit) the key is locked for ``lockout_base_s``, and each further lockout of the same
key doubles that, up to ``lockout_max_s`` (1 min, 2, 4, … ≤ 1 h by default). A lockout starts
the count afresh, so after it the key has another ``max_failures`` tries before the next, longer
one. A successful login forgets the user's failures and lockouts, never the address's: the
right password for one account says nothing about the other names tried from that address.

A key quiet for ``lockout_max_s`` (no failure, no lock running) is forgotten. Waiting that
long buys an attacker no more tries than the longest lockout allows anyway, and a user who
mistyped last week starts again at the base lockout.

The state lives in memory, in one controller process: several controllers each throttle on
their own (an attacker spreading attempts over N controllers gets N times the tries), and a
restart forgets it. It is bounded: at most ``tracked_keys`` usernames and as many addresses,
the least recently failed evicted first, so cycling through addresses or made-up names cannot
exhaust memory. Pushing an old lockout out that way takes ``tracked_keys`` fresh failures,
each a full password hash behind the hash cap, so many minutes of sustained work.

Pure: times are seconds handed in by the caller (``now``), nothing here reads a clock.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import StrEnum

# Usernames are at most 64 characters (``USERNAME_PATTERN``); a longer name, which no account
# can have, is kept as its digest, so each entry's size is bounded whatever is typed.
_MAX_KEY_CHARS = 64


class KeyKind(StrEnum):
    USER = "user"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How many failures lock a key, for how long, and how many keys are remembered."""

    max_failures_per_user: int = 5
    max_failures_per_address: int = 20
    failure_window_s: float = 15 * 60
    lockout_base_s: float = 60
    lockout_max_s: float = 3600
    tracked_keys: int = 10_000

    def __post_init__(self) -> None:
        if min(self.max_failures_per_user, self.max_failures_per_address, self.tracked_keys) < 1:
            raise ValueError("failure limits and tracked_keys must be at least 1")
        if not 0 < self.lockout_base_s <= self.lockout_max_s or self.failure_window_s <= 0:
            raise ValueError("expected 0 < lockout_base_s <= lockout_max_s and a positive window")

    def max_failures(self, kind: KeyKind) -> int:
        return self.max_failures_per_user if kind is KeyKind.USER else self.max_failures_per_address

    def lockout_s(self, nth: int) -> float:
        """How long the ``nth`` lockout of a key lasts (the first is the base)."""
        # The exponent is capped so a key locked thousands of times cannot overflow a float.
        return min(self.lockout_base_s * 2.0 ** min(nth - 1, 64), self.lockout_max_s)


@dataclass(frozen=True, slots=True)
class Lockout:
    """A key that has just been locked: what the audit records."""

    kind: KeyKind
    key: str
    username: str      # the name tried by the attempt that locked it
    address: str       # the client address of that attempt
    failures: int      # failures in the window that led to it
    nth: int           # 1 for the key's first lockout, 2 for the next, ...
    locked_at: float
    locked_until: float


@dataclass(slots=True)
class _KeyState:
    failures: deque[float]
    last_failure: float
    lockouts: int = 0
    locked_until: float = 0.0


@dataclass(slots=True)
class LoginThrottle:
    """The failures and lockouts of one controller process, under ``policy``."""

    policy: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    _keys: dict[KeyKind, OrderedDict[str, _KeyState]] = field(
        default_factory=lambda: {kind: OrderedDict() for kind in KeyKind}, init=False)

    def retry_after(self, username: str, address: str, now: float) -> float:
        """Seconds until an attempt for ``username`` from ``address`` may be tried; 0 when
        neither is locked."""
        waits = [state.locked_until - now
                 for kind, key in self._keys_of(username, address)
                 if (state := self._keys[kind].get(key)) is not None]
        return max([0.0, *waits])

    def record_failure(self, username: str, address: str, now: float) -> list[Lockout]:
        """Count a failed login against the user and the address; the lockouts it starts."""
        started: list[Lockout] = []
        for kind, key in self._keys_of(username, address):
            state = self._touch(kind, key, now)
            window_start = now - self.policy.failure_window_s
            while state.failures and state.failures[0] <= window_start:
                state.failures.popleft()
            state.failures.append(now)
            if len(state.failures) < self.policy.max_failures(kind):
                continue
            state.lockouts += 1
            state.locked_until = now + self.policy.lockout_s(state.lockouts)
            started.append(Lockout(kind=kind, key=key, username=username, address=address,
                                   failures=len(state.failures), nth=state.lockouts,
                                   locked_at=now, locked_until=state.locked_until))
            state.failures.clear()
        return started

    def record_success(self, username: str) -> None:
        """The user logged in: forget their failures and lockouts (not their address's)."""
        self._keys[KeyKind.USER].pop(_user_key(username), None)

    def tracked(self, kind: KeyKind) -> int:
        """How many keys of ``kind`` are remembered."""
        return len(self._keys[kind])

    def _keys_of(self, username: str, address: str) -> tuple[tuple[KeyKind, str], ...]:
        return (KeyKind.USER, _user_key(username)), (KeyKind.ADDRESS, address[:_MAX_KEY_CHARS])

    def _touch(self, kind: KeyKind, key: str, now: float) -> _KeyState:
        """The key's state, made the most recent; stale and surplus keys go."""
        keys = self._keys[kind]
        state = keys.pop(key, None)
        if state is None:
            state = _KeyState(failures=deque(maxlen=self.policy.max_failures(kind)),
                              last_failure=now)
        state.last_failure = now
        # Least recently failed first: drop the keys quiet long enough to be forgotten, then
        # the oldest while there are too many.
        while keys:
            oldest = next(iter(keys.values()))
            quiet_since = max(oldest.last_failure, oldest.locked_until)
            if now - quiet_since < self.policy.lockout_max_s:
                break
            keys.popitem(last=False)
        while len(keys) >= self.policy.tracked_keys:
            keys.popitem(last=False)
        keys[key] = state
        return state


def _user_key(username: str) -> str:
    if len(username) <= _MAX_KEY_CHARS:
        return username
    return "sha256:" + hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()
