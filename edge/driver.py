"""What the agent needs from a device: the ``DeviceDriver`` protocol.

A driver is the device-specific half of an agent (a simulator, or serial/camera code on a real
host).  The agent owns the MQTT session, the outbox and the timing; the driver only reads
values, produces events and executes commands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from devices.contract import Response

TelemetryScalar = bool | int | float | str
"""A telemetry value as the wire contract allows it."""


class DeviceHandle(Protocol):
    """What a driver may do with its agent (the ``EdgeAgent`` implements this)."""

    @property
    def device_id(self) -> str:
        """The device id this agent speaks for."""
        ...

    async def emit_event(self, type: str, data: Mapping[str, Any] | None = None) -> str:
        """Queue an event in the outbox (delivered at least once, in order); returns its id."""
        ...

    async def request(
        self, method: str, params: Mapping[str, Any] | None = None, timeout_s: float = 10.0
    ) -> Response:
        """Send a request on ``req`` and wait for the controller's response on ``res``."""
        ...


class DeviceDriver(Protocol):
    """The device-specific half of an agent.

    ``read_telemetry`` is called every telemetry interval on the event loop, so it must be
    cheap: a driver with slow I/O keeps a snapshot up to date from ``run`` and returns that.
    """

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        """The current values, e.g. ``{"paper_level_pct": 72.5, "printer_state": "ok"}``."""
        ...

    async def run(self, device: DeviceHandle) -> None:
        """The driver's own loop (poll hardware, emit events); may return at once.

        Runs for the life of the agent, also while the broker is unreachable (events go to the
        outbox).  It is cancelled when the agent stops.
        """
        ...

    async def handle_command(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Execute a command and return its result.

        Raise ``CommandRefused(code, message)`` to refuse it and ``UnknownMethod(method)`` for a
        method this device does not know.  Keep it short: long actions run in the background.
        """
        ...
