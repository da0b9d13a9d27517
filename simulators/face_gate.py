"""A simulated face-recognition gate: counts passages, frame rate drops when busy.

It reports decisions as a real gate does (``access.granted`` / ``access.denied`` with a person
id, distance and margin) for a made-up population, without a camera; ``edge.face_gate`` is the
real thing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from devices.kinds import DeviceKind
from edge.driver import TelemetryScalar
from simulators.base import SimulatedDevice

PASSAGES_PER_S = 1 / 10
RECOGNISED_SHARE = 0.92  # the rest are visitors without an enrolled face
POPULATION = tuple(f"s2026{n:04d}" for n in range(1, 400))
"""The made-up students a simulated gate recognises. ``hall demo`` enrols them with a rule for
every simulated gate (``simulators.access_roster``), so the controller's policy contains each
grant; on another controller they are people it does not know, and it says so."""


class SimulatedFaceGate(SimulatedDevice):
    """Telemetry: ``fps``, ``passages``, ``cpu_temp_c``.  Events: ``access.granted`` /
    ``access.denied`` (method ``face``), then ``gate.passage`` when it opened.

    Only decisions leave the device (never images or embeddings), as on a real gate.
    """

    kind: ClassVar[DeviceKind] = DeviceKind.FACE_GATE

    def __init__(self, device_id: str, *, speed: float = 1.0, tick_s: float = 1.0) -> None:
        super().__init__(device_id, speed=speed, tick_s=tick_s)
        self.passages = 0
        self._load = 0.0

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        return {
            "fps": max(1.0, self.noisy(15.0 - 6.0 * self._load, 0.7)),
            "passages": self.passages,
            "cpu_temp_c": self.noisy(55.0 + 10.0 * self._load, 0.8),
        }

    def step(self, dt: float) -> None:
        self._load *= 0.8
        if self.happens(PASSAGES_PER_S, dt):
            self.passages += 1
            self._load = min(1.0, self._load + 0.5)
            recognised = self.rng.random() < RECOGNISED_SHARE
            if recognised:
                self.emit("access.granted", {
                    "method": "face", "person_id": POPULATION[self.rng.randrange(len(POPULATION))],
                    "reason": "allowed", "distance": round(self.rng.uniform(0.2, 0.45), 3),
                    "margin": round(self.rng.uniform(0.3, 0.6), 3), "frames": 3})
            else:
                self.emit("access.denied", {
                    "method": "face", "person_id": None, "reason": "unknown_face",
                    "distance": round(self.rng.uniform(0.55, 0.8), 3), "margin": None,
                    "frames": 3})
            self.emit("gate.passage", {
                "direction": "in" if self.rng.random() < 0.55 else "out",
                "recognised": recognised,
                "opened": recognised,
                "passages": self.passages,
            })
