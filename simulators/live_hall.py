"""A live hall: the simulated fleet with visitors at its kiosks, and clerks at the windows.

``hall demo`` (``hall.demo``) gives the fleet's kiosks their visitors with ``give_visitors``,
and runs ``run_clerks`` (see ``simulators.clerks``) with the controller's window terminal.
"""

from __future__ import annotations

import dataclasses

from edge.agent import EdgeAgent
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


__all__ = ["give_visitors"]
