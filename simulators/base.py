"""What every simulated device shares: a seeded random source, a clock, ping and reboot."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from devices.cancellation import raise_if_cancelled
from devices.contract import now_ms
from devices.kinds import DeviceKind
from edge.driver import DeviceHandle, TelemetryScalar
from edge.errors import UnknownMethod

CommandHandler = Callable[[Mapping[str, Any]], dict[str, Any]]


class SimulatedDevice:
    """A ``DeviceDriver`` whose hardware is a small state machine advanced every tick.

    Subclasses set ``kind``, implement ``read_telemetry`` and ``step`` (advance ``dt`` simulated
    seconds and call ``emit`` for what happened) and may add commands with ``commands``.
    ``speed`` runs simulated time faster than the wall clock (a lively demo: 10-60).
    Randomness is seeded by the device id, so a device behaves the same in every run.
    """

    kind: ClassVar[DeviceKind]

    def __init__(self, device_id: str, *, speed: float = 1.0, tick_s: float = 1.0) -> None:
        if speed <= 0 or tick_s <= 0:
            raise ValueError("speed and tick_s must be positive")
        self.device_id = device_id
        self.speed = speed
        self.tick_s = tick_s
        # Simulated physics, not secrets.
        self.rng = random.Random(f"{self.kind}:{device_id}")
        self.reboots = 0
        self._events: list[tuple[str, dict[str, Any]]] = []

    # --- DeviceDriver -------------------------------------------------------------------------

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        """The current simulated values."""
        raise NotImplementedError

    async def run(self, device: DeviceHandle) -> None:
        """Advance the simulation every tick and hand its events to the agent."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            raise_if_cancelled()  # a stop swallowed by a wait (devices/cancellation.py)
            await self.flush_events(device)
            await asyncio.sleep(self.tick_s)
            now = loop.time()
            self.step((now - last) * self.speed)
            last = now

    async def handle_command(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``device.ping``, ``device.reboot`` and whatever ``commands`` adds."""
        if method == "device.ping":
            return {"pong": now_ms()}
        if method == "device.reboot":
            # A simulated device does not really go away; the ack says what a real one would do.
            self.reboots += 1
            return {"rebooting": True}
        handler = self.commands().get(method)
        if handler is None:
            raise UnknownMethod(method)
        return handler(params)

    # --- for subclasses -----------------------------------------------------------------------

    def step(self, dt: float) -> None:
        """Advance the simulation by ``dt`` simulated seconds."""

    def commands(self) -> dict[str, CommandHandler]:
        """Kind-specific commands by method name."""
        return {}

    def emit(self, type: str, data: dict[str, Any] | None = None) -> None:
        """Record an event; the run loop hands it to the agent on the next tick."""
        self._events.append((type, data or {}))

    async def flush_events(self, device: DeviceHandle) -> None:
        """Hand the recorded events to the agent (its outbox), oldest first."""
        while self._events:
            type_, data = self._events.pop(0)
            await device.emit_event(type_, data)

    def happens(self, rate_per_s: float, dt: float) -> bool:
        """Whether something with this average rate happened during ``dt`` (at most once)."""
        return self.rng.random() < -math.expm1(-rate_per_s * dt)

    def noisy(self, centre: float, spread: float, digits: int = 1) -> float:
        """A reading around ``centre``."""
        return round(self.rng.gauss(centre, spread), digits)
