"""Virtual devices that speak the wire contract through the real ``EdgeAgent``.

Each device kind is a simulated ``DeviceDriver`` (``simulated_driver``); ``run_fleet`` runs
many in one process; ``python -m simulators.agent_process`` runs one as its own process.
"""

from simulators.base import SimulatedDevice
from simulators.catalog import SIMULATORS, simulated_driver
from simulators.door_lock import SimulatedDoorLock
from simulators.face_gate import SimulatedFaceGate
from simulators.fleet import (
    DeviceSpec,
    build_agent,
    build_fleet,
    fleet_plan,
    run_agents,
    run_fleet,
)
from simulators.kiosk import SimulatedKiosk
from simulators.queue_display import DisplayCall, SimulatedQueueDisplay

__all__ = [
    "SIMULATORS",
    "DeviceSpec",
    "DisplayCall",
    "SimulatedDevice",
    "SimulatedDoorLock",
    "SimulatedFaceGate",
    "SimulatedKiosk",
    "SimulatedQueueDisplay",
    "build_agent",
    "build_fleet",
    "fleet_plan",
    "run_agents",
    "run_fleet",
    "simulated_driver",
]
