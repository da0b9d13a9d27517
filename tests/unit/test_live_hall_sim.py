"""The demo's live hall over fakes: kiosk visitors (a fake agent answering ticket.take) and
simulated clerks (the real ``ClerkService`` over the memory stores)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from devices.contract import Response, error_response
from edge.errors import RequestTimeout
from hall.config import ConfigError, load_config
from hall_controller.queue.clerk import ClerkService, ClerkSettings
from hall_controller.queue.memory_moves import MemoryTicketMoves
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.model import ServiceDef, TicketState, WindowDef
from hall_controller.queue.ports import TicketRequest
from simulators.clerks import ClerkPlan, SimulatedClerk
from simulators.kiosk import SimulatedKiosk
from simulators.visitors import VisitorPlan, person_id, visitor_params

SERVICES = (ServiceDef("student-id", "学生证办理", "A"), ServiceDef("dorm", "宿舍事务", "C"))
WINDOWS = (WindowDef("w1", 1, {"student-id": 1, "dorm": 1}),)
FAST = ClerkPlan(speed=1000.0, idle_min_s=0.01, idle_max_s=0.02)


class FakeAgent:
    """Answers ticket.take like the controller: tickets for student-id, the hall is closed
    for dorm, and every fifth request gets no answer at all."""

    device_id = "kiosk-01"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.events: list[str] = []

    async def emit_event(self, type: str, data: Mapping[str, Any] | None = None) -> str:
        self.events.append(type)
        return str(uuid.uuid4())

    async def request(self, method: str, params: Mapping[str, Any] | None = None,
                      timeout_s: float = 10.0) -> Response:
        assert method == "ticket.take" and params is not None
        self.requests.append(dict(params))
        if len(self.requests) % 5 == 0:
            raise RequestTimeout("no response")
        if params["service"] == "dorm":
            return error_response("r", "hall_closed", "the hall is closed")
        return Response(id="r", ok=True, result={"ticket": f"A{len(self.requests):03d}",
                                                 "waiting_ahead": 0, "estimated_wait_s": 0})


async def test_kiosk_visitors_take_tickets_and_survive_refusals_and_timeouts() -> None:
    plan = VisitorPlan.even(["student-id", "dorm"], 7200.0, speed=10.0,
                            identity_share=0.5, priority_share=0.5)  # 20 a second
    kiosk = SimulatedKiosk("kiosk-01", visitors=plan)
    agent = FakeAgent()
    task = asyncio.create_task(kiosk.run(agent))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    stats = kiosk.visitor_stats
    assert 8 <= stats.arrived <= 40  # Poisson, 20 expected
    assert stats.taken > 0 and stats.refused["hall_closed"] > 0 and stats.timed_out > 0
    assert stats.taken + sum(stats.refused.values()) + stats.timed_out == len(agent.requests)
    assert kiosk.tickets_printed == stats.taken  # no random printing besides real tickets
    assert {r["service"] for r in agent.requests} == {"student-id", "dorm"}
    assert any("identity" in r for r in agent.requests)
    assert any(r.get("priority") is True for r in agent.requests)


def test_visitor_params_look_like_campus_visitors() -> None:
    rng = random.Random(1)
    assert len(person_id(rng)) == 10 and person_id(rng).startswith("20")
    plan = VisitorPlan.even(["dorm"], 60.0, identity_share=1.0, priority_share=0.0)
    params = visitor_params("dorm", plan, rng)
    assert params["service"] == "dorm" and params["identity"]["type"] == "person_id"
    assert "priority" not in params
    assert plan.rate_per_s("dorm") == pytest.approx(60 / 3600)
    assert VisitorPlan.even(["a", "b"], 60.0, speed=10.0, kiosks=2).rate_per_s("a") == \
        pytest.approx(30 * 10 / 3600 / 2)


async def hall_with_tickets(count: int) -> tuple[ClerkService, MemoryTicketStore]:
    tickets = MemoryTicketStore()
    await tickets.sync_services(SERVICES)
    clerk = ClerkService(tickets, MemoryTicketMoves(tickets),
                         ClerkSettings(windows=WINDOWS, services=SERVICES, max_recalls=2))
    day = clerk.service_day(int(time.time() * 1000))
    for i in range(count):
        await tickets.issue_ticket(TicketRequest(
            ticket_id=str(uuid.uuid4()), service_code="student-id", service_day=day,
            issued_ms=int(time.time() * 1000) - 1000 + i, actor="kiosk:kiosk-01"))
    return clerk, tickets


async def run_for(simulated: SimulatedClerk, seconds: float) -> None:
    task = asyncio.create_task(simulated.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_clerk_serves_everyone_then_waits() -> None:
    clerk, tickets = await hall_with_tickets(5)
    simulated = SimulatedClerk(clerk, "w1", ClerkPlan(
        speed=1000.0, service_mean_s=20.0, pending_share=0.5, no_show_share=0.0,
        idle_min_s=0.01, idle_max_s=0.02))
    await run_for(simulated, 1.0)
    assert simulated.stats.served == 5 and simulated.stats.errors == 0
    done = list(tickets.tickets.values())
    assert all(t.state is TicketState.DONE for t in done)
    assert {t.outcome for t in done} == {"resolved", "pending_materials"}


async def test_a_visitor_who_never_comes_is_recalled_then_marked_no_show() -> None:
    clerk, tickets = await hall_with_tickets(1)
    simulated = SimulatedClerk(clerk, "w1", ClerkPlan(
        speed=1000.0, no_show_share=1.0, idle_min_s=0.01, idle_max_s=0.02))
    await run_for(simulated, 0.5)
    (ticket,) = tickets.tickets.values()
    assert ticket.state is TicketState.NO_SHOW and ticket.recalls == 2
    assert simulated.stats.no_shows == 1 and simulated.stats.recalls == 2


async def test_a_ticket_left_at_the_window_by_a_previous_run_is_finished() -> None:
    clerk, tickets = await hall_with_tickets(1)
    await clerk.open_window("w1", "sim-w1")
    await clerk.call_next("w1", "sim-w1")  # then the demo was stopped
    simulated = SimulatedClerk(clerk, "w1", FAST)
    await run_for(simulated, 0.3)
    (ticket,) = tickets.tickets.values()
    assert ticket.state is TicketState.DONE and simulated.stats.errors == 0


async def test_a_window_another_clerk_holds_is_tried_again_not_fatal() -> None:
    clerk, tickets = await hall_with_tickets(1)
    await clerk.open_window("w1", "alice")
    simulated = SimulatedClerk(clerk, "w1", FAST)
    await run_for(simulated, 0.2)
    assert simulated.stats.errors >= 2 and simulated.stats.called == 0
    (ticket,) = tickets.tickets.values()
    assert ticket.state is TicketState.WAITING



def test_demo_queue_settings_are_validated_with_their_key(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text("[demo]\nspeed = 60\nvisitors_per_hour = 120\n", encoding="utf-8")
    demo = load_config(config_file, {}).demo
    assert demo.live_queue and demo.speed == 60.0 and demo.visitors_per_hour == 120.0
    config_file.write_text("[demo]\nno_show_share = 1.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"demo\.no_show_share"):
        load_config(config_file, {})
