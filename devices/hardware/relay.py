"""Glue between the hardware drivers and an agent: events that may fire before the agent runs,
and telemetry gathered from the drivers. (No import of ``edge``: the agent is a protocol here.)"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

TelemetryScalar = bool | int | float | str

logger = logging.getLogger(__name__)

PENDING_LIMIT = 256


class EventTarget(Protocol):
    """The part of an agent (``edge.driver.EventTarget``) that takes events."""

    async def emit_event(self, type: str, data: Mapping[str, Any] | None = None) -> str:
        """Queue an event in the agent's outbox."""
        ...


class EventRelay:
    """An ``EventSink`` for the hardware drivers that hands events to the agent's outbox.

    Drivers may report (a port missing at start) before the agent calls ``run``: those events
    wait here, bounded, and go out first once the agent is there.
    """

    def __init__(self) -> None:
        self._device: EventTarget | None = None
        self._pending: list[tuple[str, dict[str, Any]]] = []

    async def attach(self, device: EventTarget) -> None:
        """The agent is running: deliver what waited."""
        self._device = device
        pending, self._pending = self._pending, []
        for type_, data in pending:
            await device.emit_event(type_, data)

    def detach(self) -> None:
        """The agent stopped (or restarts the driver)."""
        self._device = None

    async def __call__(self, type_: str, data: dict[str, Any]) -> None:
        if self._device is not None:
            await self._device.emit_event(type_, data)
            return
        if len(self._pending) >= PENDING_LIMIT:
            logger.warning("dropping hardware event %s: %d waiting for the agent", type_, PENDING_LIMIT)
            return
        self._pending.append((type_, data))


def drivers_telemetry(values: Mapping[str, Any], *drivers: object) -> dict[str, TelemetryScalar]:
    """``values`` plus the ``telemetry()`` of each driver that has one (absent parts are None)."""
    parts = [values]
    for driver in drivers:
        telemetry = getattr(driver, "telemetry", None)
        if callable(telemetry):
            parts.append(telemetry())
    return scalar_telemetry(*parts)


def scalar_telemetry(*parts: Mapping[str, Any]) -> dict[str, TelemetryScalar]:
    """Merge driver telemetry, keeping only what the wire contract allows."""
    merged: dict[str, TelemetryScalar] = {}
    for part in parts:
        for name, value in part.items():
            if isinstance(value, bool | int | float | str):
                merged[name] = value
    return merged
