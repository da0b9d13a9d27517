"""A live hall: the simulated fleet with visitors at its kiosks, and clerks at the windows.

``hall demo`` runs ``run_live_fleet`` beside the controller and ``run_clerks`` (see
``simulators.clerks``) with the controller's window terminal.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from devices.contract import DEFAULT_PREFIX
from edge.agent import EdgeAgent
from simulators.fleet import DEMO_MASTER_SECRET, build_fleet, run_agents
from simulators.kiosk import SimulatedKiosk
from simulators.visitors import VisitorPlan


def give_visitors(agents: list[EdgeAgent], plan: VisitorPlan) -> list[SimulatedKiosk]:
    """Send ``plan``'s visitors to the simulated kiosks among ``agents`` (before they run);
    the arrivals are shared between the kiosks. Returns those kiosks."""
    kiosks = [a.driver for a in agents if isinstance(a.driver, SimulatedKiosk)]
    shared = dataclasses.replace(plan, kiosks=max(1, len(kiosks)))
    for kiosk in kiosks:
        kiosk.visitors = shared
    return kiosks


async def run_live_fleet(
    broker_url: str,
    topic_prefix: str = DEFAULT_PREFIX,
    data_dir: Path | None = None,
    *,
    devices_per_kind: int,
    visitors: VisitorPlan | None,
    telemetry_interval_s: float = 5.0,
    durable: bool = True,
    master_secret: bytes | None = DEMO_MASTER_SECRET,
) -> None:
    """``run_fleet`` with ``devices_per_kind``, whose kiosks take tickets for ``visitors``
    (None: kiosks only pretend to print, as in ``run_fleet``). Runs until cancelled.
    ``master_secret``: the controller's, so the locks accept its signed commands."""
    agents = build_fleet(broker_url, topic_prefix, data_dir, devices_per_kind=devices_per_kind,
                         telemetry_interval_s=telemetry_interval_s, durable=durable,
                         master_secret=master_secret)
    if visitors is not None:
        give_visitors(agents, visitors)
    await run_agents(agents)


__all__ = ["give_visitors", "run_live_fleet"]
