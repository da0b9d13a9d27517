"""The live hall of the demo, for real: simulated kiosks take tickets over MQTT from a running
controller (real Mosquitto, real PostgreSQL) at Poisson arrival times, and simulated clerks
call, serve and complete them through ``ClerkService``, with displays told about every call."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from devices.kinds import DeviceKind
from hall_controller.queue.clerk import ClerkService, ClerkSettings
from hall_controller.queue.model import ServiceDef, TicketState, WindowDef
from hall_controller.queue.postgres_moves import PostgresTicketMoves
from hall_controller.queue.tickets import QueueSettings
from simulators.clerks import ClerkPlan, SimulatedClerk
from simulators.fleet import build_agent, run_agents
from simulators.live_hall import give_visitors
from simulators.visitors import VisitorPlan
from tests.support.controller import eventually, running_controller
from tests.support.hall_store import PostgresHallStore
from tests.support.kiosks import mosquitto_url

__all__ = ["mosquitto_url"]  # a fixture, imported to be found

SERVICES = (ServiceDef("student-id", "学生证办理", "A"), ServiceDef("dorm", "宿舍事务", "C"))
WINDOWS = (WindowDef("w1", 1, {"student-id": 2, "dorm": 1}),
           WindowDef("w2", 2, {"dorm": 2, "student-id": 1}))
SPEED = 100.0
# 2 visitors a second in all at SPEED; two windows serve ~3 a second (30 s services, 10-60 s
# walks, all / SPEED), so the queue comes and goes instead of growing.
VISITORS = VisitorPlan.even([s.code for s in SERVICES], 72.0, speed=SPEED)
CLERKS = ClerkPlan(speed=SPEED, service_mean_s=30.0, no_show_share=0.1, pending_share=0.2,
                   recall_after_s=20.0, idle_min_s=0.05, idle_max_s=0.2)
ARRIVALS_S = 5.0


async def test_simulated_visitors_and_clerks_keep_the_hall_alive(
        mosquitto_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    queue = QueueSettings(services=SERVICES, windows=WINDOWS)
    agents = [build_agent(mosquitto_url, topic_prefix, device_id=f"kiosk-{i:02d}",
                          kind=DeviceKind.KIOSK, durable=False) for i in range(1, 4)]
    kiosks = give_visitors(agents, VISITORS)
    assert len(kiosks) == 3 and all(k.visitors is not None and k.visitors.kiosks == 3
                                    for k in kiosks)
    async with (running_controller(mosquitto_url, topic_prefix, hall_store,
                                   queue=queue) as controller,
                ClerkService(hall_store, PostgresTicketMoves(hall_store.pool),
                             ClerkSettings(windows=WINDOWS, services=SERVICES),
                             devices=controller.registry, commands=controller.commands) as clerk):
        clerks = [SimulatedClerk(clerk, w.window_id, CLERKS) for w in WINDOWS]
        async with owned_task(run_clerks_of(clerks)):
            async with owned_task(run_agents(agents)):
                await asyncio.sleep(ARRIVALS_S)
            # The kiosks are gone (cancelled like Ctrl-C); the clerks work off the queue.
            day = clerk.service_day(int(time.time() * 1000))

            async def queue_empty() -> bool:
                return not await PostgresTicketMoves(hall_store.pool).waiting_for(
                    [s.code for s in SERVICES], day)

            await eventually(queue_empty, timeout_s=15, what="the clerks to work off the queue")

            async def nobody_at_a_window() -> bool:
                tickets = [t for s in SERVICES for t in await hall_store.list_tickets(s.code, day)]
                return not any(t.state in (TicketState.CALLED, TicketState.SERVING)
                               for t in tickets)
            await eventually(nobody_at_a_window, timeout_s=15,
                             what="the last called visitors served")
        await clerk.drain()

    taken = sum(k.visitor_stats.taken for k in kiosks)
    assert taken >= 4, [k.visitor_stats for k in kiosks]
    assert not any(k.visitor_stats.refused for k in kiosks)
    tickets = [t for s in SERVICES for t in await hall_store.list_tickets(s.code, day)]
    assert len(tickets) == taken  # every visitor's reply was a ticket, and no more
    assert {t.origin_device for t in tickets} <= {"kiosk-01", "kiosk-02", "kiosk-03"}
    done = [t for t in tickets if t.state is TicketState.DONE]
    assert len(done) >= 2, [(t.number, t.state) for t in tickets]
    for ticket in done:
        moves = [(m.from_state, m.to_state)
                 for m in await hall_store.ticket_transitions(ticket.ticket_id)]
        assert moves == [(None, TicketState.WAITING), (TicketState.WAITING, TicketState.CALLED),
                         (TicketState.CALLED, TicketState.SERVING),
                         (TicketState.SERVING, TicketState.DONE)], moves
        assert ticket.window_id in {"w1", "w2"} and ticket.outcome is not None
    called = sum(c.stats.called for c in clerks)
    served = sum(c.stats.served for c in clerks)
    assert called >= len(done) and served >= len(done) - 2  # cancelled mid-service at most 2
    print(f"\nlive hall: {taken} tickets taken, {called} called, {len(done)} done "
          f"({sum(c.stats.pending for c in clerks)} pending materials), "
          f"{sum(c.stats.no_shows for c in clerks)} no-shows")


async def run_clerks_of(clerks: list[SimulatedClerk]) -> None:
    async with asyncio.TaskGroup() as tg:
        for simulated in clerks:
            tg.create_task(simulated.run(), name=f"clerk:{simulated.window_id}")


@contextlib.asynccontextmanager
async def owned_task(coro: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``coro`` beside the block; cancel it (as Ctrl-C would) and wait for it after.
    A failure of its own (not the cancellation) fails the test."""
    task = asyncio.create_task(coro)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
