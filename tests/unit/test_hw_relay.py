"""Events a driver reports before the agent runs wait, bounded, and go out first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devices.hardware.relay import PENDING_LIMIT, EventRelay, scalar_telemetry


class Outbox:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def emit_event(self, type: str, data: Mapping[str, Any] | None = None) -> str:
        self.events.append((type, dict(data or {})))
        return type


async def test_a_fault_at_start_up_is_delivered_once_the_agent_runs_and_the_wait_is_bounded() -> None:
    relay = EventRelay()
    await relay("hardware.fault", {"part": "printer"})
    for n in range(PENDING_LIMIT + 10):
        await relay("noise", {"n": n})
    outbox = Outbox()
    await relay.attach(outbox)
    assert outbox.events[0] == ("hardware.fault", {"part": "printer"})
    assert len(outbox.events) == PENDING_LIMIT
    await relay("printer.paper_out", {})
    assert outbox.events[-1] == ("printer.paper_out", {})
    relay.detach()
    await relay("later", {})
    assert outbox.events[-1] == ("printer.paper_out", {})


def test_only_values_the_wire_contract_allows_become_telemetry() -> None:
    merged = scalar_telemetry({"a": 1, "b": None, "c": [1]}, {"d": "ok", "a": 2.5, "e": True})
    assert merged == {"a": 2.5, "d": "ok", "e": True}
