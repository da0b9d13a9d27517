"""A simulated self-service kiosk: prints queue tickets, runs out of paper, jams.

Without a ``VisitorPlan`` it only pretends to print (telemetry and printer events). With one,
its visitors take real tickets: Poisson arrivals per service, each a ``ticket.take`` request
through the agent (``EdgeAgent.request``) over MQTT, and a taken ticket is printed. Visitors
sent by someone else (the simulated online platform's applicants) take theirs the same way
(``send_visitor``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any, ClassVar

from devices.cancellation import raise_if_cancelled
from devices.contract import now_ms
from devices.kinds import DeviceKind
from edge.driver import DeviceHandle, TelemetryScalar
from edge.errors import EdgeError
from simulators.base import SimulatedDevice
from simulators.visitors import MAX_IN_FLIGHT, VisitorPlan, VisitorStats, visitor_params

logger = logging.getLogger(__name__)

TICKETS_PER_S = 1 / 30  # a busy hall: one visitor every half minute per kiosk
PAPER_PER_TICKET_PCT = 0.2  # a roll lasts about 500 tickets
PAPER_LOW_PCT = 15.0
JAM_PER_TICKET = 0.004
JAM_CLEARED_S = (60.0, 180.0)  # how long until staff clear a jam
REFILL_S = (120.0, 600.0)  # how long until staff bring paper


class SimulatedKiosk(SimulatedDevice):
    """Telemetry: ``paper_level_pct``, ``printer_state``, ``cpu_temp_c``, ``tickets_printed``.

    Events: ``printer.paper_low``, ``printer.paper_out``, ``printer.refilled``, ``printer.jam``,
    ``printer.jam_cleared``.
    """

    kind: ClassVar[DeviceKind] = DeviceKind.KIOSK

    def __init__(self, device_id: str, *, speed: float = 1.0, tick_s: float = 1.0,
                 visitors: VisitorPlan | None = None) -> None:
        super().__init__(device_id, speed=speed, tick_s=tick_s)
        self.visitors = visitors
        self.visitor_stats = VisitorStats()
        # Separate from the printer's source, so adding visitors does not change when a
        # kiosk without them jams. Simulated arrivals, not secrets.
        self._visitor_rng = random.Random(f"visitors:{device_id}")
        self._in_flight: set[asyncio.Task[None]] = set()
        self._device: DeviceHandle | None = None   # while running
        # Set: visitors come. The demo clears it while it replays the earlier day, so no live
        # ticket joins the queue before the replayed ones are in it.
        self.doors_open = asyncio.Event()
        self.doors_open.set()
        self.paper_level_pct = round(self.rng.uniform(30.0, 100.0), 1)
        self.printer_state = "ok" if self.paper_level_pct > PAPER_LOW_PCT else "paper_low"
        self.tickets_printed = 0
        self._busy = 0.0
        self._fixed_in_s = 0.0  # until a jam is cleared or paper refilled

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        return {
            "paper_level_pct": round(self.paper_level_pct, 1),
            "printer_state": self.printer_state,
            "cpu_temp_c": self.noisy(46.0 + 8.0 * self._busy, 0.8),
            "tickets_printed": self.tickets_printed,
        }

    async def run(self, device: DeviceHandle) -> None:
        """The printer's simulation, and with a plan, one arrival process per service."""
        if self.visitors is None:
            await super().run(device)
            return
        plan = self.visitors
        self._device = device
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(super().run(device), name=f"{self.device_id}:printer")
                for service in plan.rates_per_hour:
                    if plan.rate_per_s(service) > 0:
                        tg.create_task(self._arrivals(device, service, plan),
                                       name=f"{self.device_id}:visitors:{service}")
        finally:
            self._device = None
            # Requests still in flight belong to this run: the agent is stopping (or
            # restarting the driver), so their replies would find nobody waiting.
            for task in list(self._in_flight):
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _arrivals(self, device: DeviceHandle, service: str, plan: VisitorPlan) -> None:
        peak = plan.peak_rate_per_s(service)
        rng = self._visitor_rng
        await self.doors_open.wait()
        while True:
            raise_if_cancelled()  # a stop swallowed by a wait (devices/cancellation.py)
            await asyncio.sleep(rng.expovariate(peak))
            # Thinning: a candidate at the peak rate is a visitor with probability rate now /
            # peak rate, which makes the arrivals follow the day's profile.
            if plan.profile is not None and rng.random() * peak > plan.rate_per_s(service,
                                                                                  now_ms()):
                continue
            self._visit(device, visitor_params(service, plan, rng), plan.timeout_s)

    def send_visitor(self, params: dict[str, Any], timeout_s: float = 10.0) -> bool:
        """A visitor sent here (the online platform's applicant) takes a ticket with
        ``params`` (``ticket.take``'s). False when the kiosk is not running with visitors."""
        device = self._device
        if device is None:
            return False
        self._visit(device, params, timeout_s)
        return True

    def _visit(self, device: DeviceHandle, params: dict[str, Any], timeout_s: float) -> None:
        service = params["service"]
        self.visitor_stats.arrived += 1
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            self.visitor_stats.walked_away += 1
            logger.debug("%s: visitor for %s walked away (%d requests unanswered)",
                         self.device_id, service, len(self._in_flight),
                         extra={"device_id": self.device_id})
            return
        # Its own task: a slow reply must not delay the next arrival (that would thin the
        # Poisson process exactly when the controller is busy).
        task = asyncio.create_task(self._take_ticket(device, params, timeout_s),
                                   name=f"{self.device_id}:take:{service}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _take_ticket(self, device: DeviceHandle, params: dict[str, Any],
                           timeout_s: float) -> None:
        stats = self.visitor_stats
        try:
            response = await device.request("ticket.take", params, timeout_s)
        except EdgeError as exc:  # RequestTimeout: the controller is away; the visitor leaves
            stats.timed_out += 1
            logger.debug("%s: ticket.take for %s failed: %s", self.device_id,
                         params["service"], exc, extra={"device_id": self.device_id})
            return
        except Exception:
            # Each request is a task of its own, with nobody awaiting its result: log here,
            # so one broken request is seen and the kiosk's other visitors carry on.
            stats.timed_out += 1
            logger.exception("%s: ticket.take for %s failed", self.device_id, params["service"],
                             extra={"device_id": self.device_id})
            return
        reply: dict[str, Any] = {"params": params, "ok": response.ok}
        if response.ok and response.result is not None:
            result = dict(response.result)
            reply["result"] = result
            stats.taken += 1
            self._print_ticket()
            logger.debug("%s: visitor took %s for %s (%s ahead, ~%s s)", self.device_id,
                         result.get("ticket"), params["service"], result.get("waiting_ahead"),
                         result.get("estimated_wait_s"), extra={"device_id": self.device_id})
        else:
            # Hall closed, daily cap reached, unknown service: what the kiosk's screen says.
            code = response.error.code if response.error is not None else "unknown"
            reply["error"] = code
            stats.refused[code] += 1
            logger.debug("%s: ticket.take for %s refused: %s", self.device_id,
                         params["service"], code, extra={"device_id": self.device_id})
        stats.recent.append(reply)

    def step(self, dt: float) -> None:
        self._busy *= 0.9
        if self.printer_state in ("jam", "paper_out"):
            self._fixed_in_s -= dt
            if self._fixed_in_s <= 0:
                self._staff_fix()
            return
        # With visitors, tickets are printed when the controller issues them, not at random.
        if self.visitors is None and self.happens(TICKETS_PER_S, dt):
            self._print_ticket()

    def _print_ticket(self) -> None:
        if self.printer_state in ("jam", "paper_out"):
            # The ticket was issued all the same: the screen shows its number.
            return
        self._busy = 1.0
        self.tickets_printed += 1
        self.paper_level_pct = max(0.0, self.paper_level_pct - PAPER_PER_TICKET_PCT)
        if self.rng.random() < JAM_PER_TICKET:
            self.printer_state = "jam"
            self._fixed_in_s = self.rng.uniform(*JAM_CLEARED_S)
            self.emit("printer.jam", {"tickets_printed": self.tickets_printed})
        elif self.paper_level_pct <= 0.0:
            self.printer_state = "paper_out"
            self._fixed_in_s = self.rng.uniform(*REFILL_S)
            self.emit("printer.paper_out", {})
        elif self.paper_level_pct <= PAPER_LOW_PCT and self.printer_state == "ok":
            self.printer_state = "paper_low"
            self.emit("printer.paper_low", {"paper_level_pct": round(self.paper_level_pct, 1)})

    def _staff_fix(self) -> None:
        if self.printer_state == "jam":
            self.emit("printer.jam_cleared", {})
        else:
            self.paper_level_pct = 100.0
            self.emit("printer.refilled", {"paper_level_pct": 100.0})
        self.printer_state = "ok" if self.paper_level_pct > PAPER_LOW_PCT else "paper_low"
