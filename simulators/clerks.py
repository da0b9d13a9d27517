"""Simulated clerks: one per window, calling, serving and completing through the window terminal.

A clerk works the window as a person would through the clerk API, but calls the controller's
``ClerkService`` directly (the demo runs in the controller's process): open the window, call
next, wait while the visitor walks over, start, serve for an exponential time, complete
(resolved, or sometimes pending materials). Some visitors never come: the clerk recalls them
until the recall limit and marks a no-show. With nobody waiting the clerk checks again after
a backoff that grows, so an empty hall costs few queries.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from devices.cancellation import raise_if_cancelled
from hall_controller.kernel.errors import HallError
from hall_controller.queue.model import Ticket, TicketState
from hall_controller.queue.rules import Outcome, RecallLimitReached

logger = logging.getLogger(__name__)

# What a clerk writes when materials are missing (the online case goes to "pending").
MISSING_MATERIALS = (
    "缺少身份证复印件",
    "缺少辅导员签字",
    "缺少一寸照片",
    "缺少缴费凭证",
)
# Safety bound on recalls when the service allows many: the clerk gives up after this many.
MAX_RECALL_ATTEMPTS = 10


class WindowState(Protocol):
    """The part of ``WindowStatus`` a clerk looks at when taking over a window."""

    @property
    def current(self) -> Ticket | None: ...


class WindowTerminal(Protocol):
    """The window terminal's use cases (``ClerkService`` implements them)."""

    async def open_window(self, window_id: str, clerk: str) -> object: ...

    async def status(self, window_id: str) -> WindowState: ...

    async def call_next(self, window_id: str, clerk: str) -> Ticket | None: ...

    async def recall(self, window_id: str, clerk: str) -> Ticket: ...

    async def start(self, window_id: str, clerk: str) -> Ticket: ...

    async def no_show(self, window_id: str, clerk: str) -> Ticket: ...

    async def complete(self, window_id: str, clerk: str, outcome: Outcome,
                       reason: str | None = None) -> object: ...


@dataclass(frozen=True, slots=True)
class ClerkPlan:
    """How the simulated clerks work, in simulated seconds (``speed`` as in ``VisitorPlan``)."""

    speed: float = 1.0
    service_mean_s: float = 240.0          # exponential service time
    walk_s: tuple[float, float] = (10.0, 60.0)   # from the call to the window, uniform
    recall_after_s: float = 45.0           # a called visitor not here yet: recall
    no_show_share: float = 0.05
    pending_share: float = 0.15            # completed as pending materials
    idle_min_s: float = 0.5                # wall-clock backoff with nobody waiting ...
    idle_max_s: float = 5.0                # ... doubling up to this

    def __post_init__(self) -> None:
        if self.speed <= 0 or self.service_mean_s <= 0 or self.recall_after_s <= 0:
            raise ValueError("speed, service_mean_s and recall_after_s must be positive")
        if not 0 <= self.walk_s[0] <= self.walk_s[1]:
            raise ValueError("walk_s must be (low, high) with 0 <= low <= high")
        if not 0 < self.idle_min_s <= self.idle_max_s:
            raise ValueError("idle_min_s must be positive and at most idle_max_s")
        for share in (self.no_show_share, self.pending_share):
            if not 0.0 <= share <= 1.0:
                raise ValueError("shares must be from 0 to 1")


@dataclass(slots=True)
class ClerkStats:
    """What one simulated clerk did."""

    called: int = 0
    served: int = 0
    pending: int = 0
    no_shows: int = 0
    recalls: int = 0
    errors: int = 0


class SimulatedClerk:
    """One clerk at one window; ``run`` works until cancelled."""

    def __init__(self, terminal: WindowTerminal, window_id: str, plan: ClerkPlan,
                 clerk: str | None = None) -> None:
        self.terminal = terminal
        self.window_id = window_id
        self.plan = plan
        self.clerk = clerk or simulated_clerk_name(window_id)
        self.stats = ClerkStats()
        # Seeded by window: a demo run behaves the same every time. Simulated, not secrets.
        self._rng = random.Random(f"clerk:{window_id}")

    async def run(self) -> None:
        """Open the window and serve until cancelled; errors are logged and backed off."""
        idle = self.plan.idle_min_s
        opened = False
        while True:
            raise_if_cancelled()  # a stop swallowed by a wait (devices/cancellation.py)
            try:
                if not opened:
                    await self.terminal.open_window(self.window_id, self.clerk)
                    await self._finish_leftover()
                    opened = True
                if await self._serve_next():
                    idle = self.plan.idle_min_s
                    continue
            except HallError as exc:
                # Another clerk has the window, or a supervisor moved our ticket meanwhile:
                # look again later rather than stop the window for the rest of the demo.
                self.stats.errors += 1
                opened = False
                logger.info("simulated clerk at %s: %s; trying again", self.window_id, exc,
                            extra={"window_id": self.window_id})
            except Exception:
                # A loop boundary: a database hiccup must not end the simulated hall.
                self.stats.errors += 1
                opened = False
                logger.exception("simulated clerk at %s failed; trying again", self.window_id,
                                 extra={"window_id": self.window_id})
                idle = self.plan.idle_max_s
            await asyncio.sleep(idle)
            idle = min(idle * 2, self.plan.idle_max_s)

    async def _finish_leftover(self) -> None:
        """A ticket left at the window by a previous run (stopped mid-service) is finished."""
        current = (await self.terminal.status(self.window_id)).current
        if current is None:
            return
        if current.state is TicketState.CALLED:
            await self.terminal.start(self.window_id, self.clerk)
        await self.terminal.complete(self.window_id, self.clerk, Outcome.RESOLVED)
        self.stats.served += 1

    async def _serve_next(self) -> bool:
        """Serve one visitor; False when nobody waits."""
        ticket = await self.terminal.call_next(self.window_id, self.clerk)
        if ticket is None:
            return False
        self.stats.called += 1
        plan = self.plan
        if self._rng.random() < plan.no_show_share:
            await self._recall_then_no_show(ticket)
            return True
        await self._sleep(self._rng.uniform(*plan.walk_s))
        await self.terminal.start(self.window_id, self.clerk)
        await self._sleep(self._rng.expovariate(1.0 / plan.service_mean_s))
        if self._rng.random() < plan.pending_share:
            await self.terminal.complete(self.window_id, self.clerk, Outcome.PENDING_MATERIALS,
                                         self._rng.choice(MISSING_MATERIALS))
            self.stats.pending += 1
        else:
            await self.terminal.complete(self.window_id, self.clerk, Outcome.RESOLVED)
        self.stats.served += 1
        logger.debug("simulated clerk at %s served %s", self.window_id, ticket.number,
                     extra={"window_id": self.window_id, "ticket_id": ticket.ticket_id})
        return True

    async def _recall_then_no_show(self, ticket: Ticket) -> None:
        for _ in range(MAX_RECALL_ATTEMPTS):
            await self._sleep(self.plan.recall_after_s)
            try:
                await self.terminal.recall(self.window_id, self.clerk)
            except RecallLimitReached:
                break
            self.stats.recalls += 1
        await self._sleep(self.plan.recall_after_s)
        await self.terminal.no_show(self.window_id, self.clerk)
        self.stats.no_shows += 1
        logger.debug("simulated clerk at %s: %s did not come", self.window_id, ticket.number,
                     extra={"window_id": self.window_id, "ticket_id": ticket.ticket_id})

    async def _sleep(self, simulated_s: float) -> None:
        await asyncio.sleep(simulated_s / self.plan.speed)


async def run_clerks(terminal: WindowTerminal, window_ids: Sequence[str], plan: ClerkPlan) -> None:
    """A simulated clerk at each window until cancelled (all cancelled together)."""
    clerks = [SimulatedClerk(terminal, window_id, plan) for window_id in window_ids]
    if clerks:
        logger.info("%d simulated clerks at windows %s", len(clerks), ", ".join(window_ids))
    async with asyncio.TaskGroup() as tg:
        for clerk in clerks:
            tg.create_task(clerk.run(), name=f"clerk:{clerk.window_id}")


def simulated_clerk_name(window_id: str) -> str:
    return f"sim-{window_id}"


__all__ = ["ClerkPlan", "ClerkStats", "SimulatedClerk", "WindowTerminal", "run_clerks",
           "simulated_clerk_name"]
