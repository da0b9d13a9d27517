"""Reconnect delays: exponential backoff with full jitter."""

from __future__ import annotations

import random


class Backoff:
    """Delays of ``uniform(0, min(maximum, initial * 2**attempt))``.

    Full jitter spreads the reconnects of a whole fleet after a broker restart, instead of
    every device hammering the broker in the same instant.
    """

    def __init__(
        self, initial_s: float, maximum_s: float, rng: random.Random | None = None
    ) -> None:
        self._initial = initial_s
        self._maximum = maximum_s
        self._attempt = 0
        # Jitter only needs to spread devices apart, not be unpredictable to an attacker.
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the ceiling up to the maximum."""
        ceiling = min(self._maximum, self._initial * 2.0 ** min(self._attempt, 32))
        self._attempt += 1
        return self._rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        """Start again from the initial delay (after a connection that stayed up)."""
        self._attempt = 0
