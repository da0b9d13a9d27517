"""A door's local logic: relay, contact, grants, alarms.  Pure: no I/O, the caller passes ``now``.

Every input returns the events it caused, as ``(type, data)`` pairs the agent emits as they
are; ``relay_released`` is what the lock relay should do.  Conventions of door controllers:

- **door.forced**: the door opened while the relay held it and no grant or egress release
  ended less than ``forced_grace_s`` ago (a slow push after the release is not an alarm);
- **door.held_open**: an authorised opening lasted longer than ``held_open_after_s``, reported
  once per opening; the next ``door.closed`` clears it (and a ``door.forced``);
- **egress** (``request_to_exit``) releases the door in every mode, also in lockdown, and a
  fail-safe door releases on a fault: software never blocks the way out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# One set of door modes for the controller's rules and the lock: normal, locked_down (no grant
# by any credential; egress still releases), free_pass (released until the mode changes).
from devices.access_rules import DoorMode

__all__ = ["AccessMethod", "Authorize", "DoorConfig", "DoorEvent", "DoorLogic", "DoorMode",
           "deny_all"]

DoorEvent = tuple[str, dict[str, Any]]


class AccessMethod(StrEnum):
    CARD = "card"
    FACE = "face"
    PIN = "pin"
    REMOTE = "remote"


Authorize = Callable[[AccessMethod, str, float], tuple[bool, str | None, str]]
"""``(method, credential, now) -> (allowed, person_id, reason)``: the local credential decision."""


def deny_all(method: AccessMethod, credential: str, now: float) -> tuple[bool, str | None, str]:
    """The decision of a lock that knows no credentials yet."""
    return False, None, "unknown_credential"


@dataclass(frozen=True, slots=True)
class DoorConfig:
    """How one door behaves; times in seconds."""

    held_open_after_s: float = 30.0
    release_s: float = 5.0
    """How long a grant or an egress request releases the door when no duration is given."""
    max_release_s: float = 3600.0
    fail_safe: bool = True
    """Fail-safe doors release on a fault (power loss); fail-secure doors stay locked."""
    forced_grace_s: float = 2.0
    battery_low_pct: float = 20.0
    battery_ok_pct: float = 25.0
    """A low battery is reported cleared only above this, so a reading hovering at the
    threshold does not flap."""

    def __post_init__(self) -> None:
        if not 0 < self.release_s <= self.max_release_s:
            raise ValueError("release_s must be positive and at most max_release_s")
        if self.held_open_after_s <= 0 or self.forced_grace_s < 0:
            raise ValueError("held_open_after_s must be positive, forced_grace_s not negative")
        if not 0 <= self.battery_low_pct < self.battery_ok_pct <= 100:
            raise ValueError("expected 0 <= battery_low_pct < battery_ok_pct <= 100")


class DoorLogic:
    """The state machine of one door (see the module docstring)."""

    def __init__(self, config: DoorConfig | None = None, authorize: Authorize = deny_all,
                 now: float = 0.0, mode: DoorMode = DoorMode.NORMAL) -> None:
        self.config = config or DoorConfig()
        self._authorize = authorize
        self._now = now
        self.mode = mode
        self.door_open = False
        self.tamper_active = False
        self.fault_active = False
        self.battery_low = False
        self.battery_pct: float | None = None
        self._grant_until = -math.inf
        self._egress_until = -math.inf
        self._open_since: float | None = None
        self._open_authorised = False
        self._held_open_reported = False
        self._forced = False
        self._relay_released = self._wants_release(now)

    # --- outputs ------------------------------------------------------------------------------

    @property
    def relay_released(self) -> bool:
        """Whether the relay lets the door open (as of the last input)."""
        return self._relay_released

    # --- inputs -------------------------------------------------------------------------------

    def contact(self, is_open: bool, now: float) -> list[DoorEvent]:
        """The door contact changed (a repeated reading changes nothing)."""
        now = self._advance(now)
        events = self._update_relay(now)
        if is_open == self.door_open:
            return events
        self.door_open = is_open
        if is_open:
            self._open_since = now
            self._held_open_reported = False
            self._open_authorised = self._relay_released or now <= self._release_ended_at() \
                + self.config.forced_grace_s
            self._forced = not self._open_authorised
            events.append(("door.opened", {"authorised": self._open_authorised}))
            if self._forced:
                events.append(("door.forced", {"mode": self.mode.value}))
        else:
            open_s = now - self._open_since if self._open_since is not None else 0.0
            data: dict[str, Any] = {"open_s": round(open_s, 1)}
            if self._held_open_reported:
                data["was_held_open"] = True
            if self._forced:
                data["was_forced"] = True
            events.append(("door.closed", data))
            self._open_since = None
            self._forced = False
            self._held_open_reported = False
            events += self._update_relay(now)
        return events

    def request_to_exit(self, now: float) -> list[DoorEvent]:
        """The egress button: releases the door in every mode."""
        now = self._advance(now)
        self._egress_until = max(self._egress_until, now + self.config.release_s)
        return self._update_relay(now, source="egress")

    def present_credential(self, method: AccessMethod | str, credential: str,
                           now: float) -> list[DoorEvent]:
        """A card, face or PIN was presented: decide locally with ``authorize``."""
        method = _method(method)
        now = self._advance(now)
        allowed, person_id, reason = self._authorize(method, credential, now)
        if allowed:
            return self.grant(method, now, person_id=person_id, credential=credential,
                              reason=reason)
        return self.deny(method, now, person_id=person_id, credential=credential, reason=reason)

    def grant(self, method: AccessMethod | str, now: float, *, person_id: str | None = None,
              credential: str | None = None, duration_s: float | None = None,
              reason: str = "granted") -> list[DoorEvent]:
        """Release the door for an access decided elsewhere (a remote unlock, a rule match).

        In lockdown it is denied (reason ``locked_down``).  Raises ValueError for a duration
        outside (0, max_release_s] or an unknown method.
        """
        method = _method(method)
        duration = self.config.release_s if duration_s is None else duration_s
        if not 0 < duration <= self.config.max_release_s:
            raise ValueError(f"duration_s must be within (0, {self.config.max_release_s:g}]")
        now = self._advance(now)
        if self.mode is DoorMode.LOCKED_DOWN:
            return self.deny(method, now, person_id=person_id, credential=credential,
                             reason="locked_down")
        self._grant_until = max(self._grant_until, now + duration)
        events = [("access.granted", _access_data(method, person_id, credential, reason))]
        return events + self._update_relay(now, source=method.value, duration_s=duration)

    def deny(self, method: AccessMethod | str, now: float, *, person_id: str | None = None,
             credential: str | None = None, reason: str = "denied") -> list[DoorEvent]:
        """Record a refused access; the door stays as it is."""
        now = self._advance(now)
        events = self._update_relay(now)
        events.append(("access.denied", _access_data(_method(method), person_id, credential,
                                                     reason)))
        return events

    def set_mode(self, mode: DoorMode | str, now: float) -> list[DoorEvent]:
        """Change the mode; lockdown also ends the grants in progress (not an egress release)."""
        try:
            new_mode = DoorMode(mode)
        except ValueError:
            raise ValueError(f"unknown door mode {mode!r}: expected one of "
                             f"{', '.join(m.value for m in DoorMode)}") from None
        now = self._advance(now)
        if new_mode is self.mode:
            return self._update_relay(now)
        previous, self.mode = self.mode, new_mode
        if new_mode is DoorMode.LOCKED_DOWN:
            self._grant_until = min(self._grant_until, now)
        events: list[DoorEvent] = [("door.mode_changed",
                                    {"mode": new_mode.value, "previous": previous.value})]
        return events + self._update_relay(now, source="mode")

    def tamper(self, active: bool, now: float) -> list[DoorEvent]:
        """The tamper switch (cover opened, reader pulled off the wall)."""
        now = self._advance(now)
        events = self._update_relay(now)
        if active != self.tamper_active:
            self.tamper_active = active
            events.append(("lock.tamper" if active else "lock.tamper_cleared", {}))
        return events

    def fault(self, active: bool, now: float) -> list[DoorEvent]:
        """Power loss or a lock fault: a fail-safe door releases while it lasts."""
        now = self._advance(now)
        events = self._update_relay(now)
        if active != self.fault_active:
            self.fault_active = active
            events.append(("lock.fault" if active else "lock.fault_cleared",
                           {"fail_safe": self.config.fail_safe}))
            events += self._update_relay(now, source="fault")
        return events

    def battery(self, pct: float, now: float) -> list[DoorEvent]:
        """A battery reading; ``lock.battery_low`` / ``lock.battery_ok`` with hysteresis."""
        if not math.isfinite(pct) or not 0 <= pct <= 100:
            raise ValueError(f"battery_pct must be within 0..100, got {pct!r}")
        now = self._advance(now)
        events = self._update_relay(now)
        self.battery_pct = pct
        if not self.battery_low and pct <= self.config.battery_low_pct:
            self.battery_low = True
            events.append(("lock.battery_low", {"battery_pct": round(pct, 1)}))
        elif self.battery_low and pct >= self.config.battery_ok_pct:
            self.battery_low = False
            events.append(("lock.battery_ok", {"battery_pct": round(pct, 1)}))
        return events

    def tick(self, now: float) -> list[DoorEvent]:
        """Time passed: releases end, a door left open becomes held open."""
        now = self._advance(now)
        events = self._update_relay(now)
        if (self.door_open and self._open_authorised and not self._held_open_reported
                and self.mode is not DoorMode.FREE_PASS and self._open_since is not None
                and now - self._open_since > self.config.held_open_after_s):
            self._held_open_reported = True
            events.append(("door.held_open", {"open_s": round(now - self._open_since, 1),
                                              "limit_s": self.config.held_open_after_s}))
        return events

    # --- internals ----------------------------------------------------------------------------

    def _advance(self, now: float) -> float:
        # A clock stepping back (NTP) must not reopen a window that has closed.
        if not math.isfinite(now):
            raise ValueError(f"now must be a finite number, got {now!r}")
        self._now = max(self._now, now)
        return self._now

    def _release_ended_at(self) -> float:
        return max(self._grant_until, self._egress_until)

    def _wants_release(self, now: float) -> bool:
        return (self.mode is DoorMode.FREE_PASS
                or now < self._release_ended_at()
                or (self.fault_active and self.config.fail_safe))

    def _update_relay(self, now: float, source: str | None = None,
                      duration_s: float | None = None) -> list[DoorEvent]:
        wanted = self._wants_release(now)
        if wanted == self._relay_released:
            return []
        self._relay_released = wanted
        if wanted:
            data: dict[str, Any] = {"source": source or "unknown"}
            if duration_s is not None:
                data["duration_s"] = duration_s
            return [("door.unlocked", data)]
        return [("door.locked", {})]


def _method(method: AccessMethod | str) -> AccessMethod:
    try:
        return AccessMethod(method)
    except ValueError:
        raise ValueError(f"unknown access method {method!r}: expected one of "
                         f"{', '.join(m.value for m in AccessMethod)}") from None


def _access_data(method: AccessMethod, person_id: str | None, credential: str | None,
                 reason: str) -> dict[str, Any]:
    data: dict[str, Any] = {"method": method.value, "reason": reason}
    if person_id is not None:
        data["person_id"] = person_id
    # A PIN is a secret: it never goes into an event.
    if credential is not None and method is not AccessMethod.PIN:
        data["credential"] = credential
    return data
