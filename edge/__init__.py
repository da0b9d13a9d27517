"""The edge agent: one MQTT identity per device, a driver, a durable outbox.

Build an ``AgentSettings`` and a ``DeviceDriver`` and run an ``EdgeAgent``::

    settings = AgentSettings(device_id="kiosk-01", kind=DeviceKind.KIOSK,
                             broker_url="mqtt://127.0.0.1:1883", data_dir=Path("data/kiosk-01"))
    async with EdgeAgent(settings, driver) as agent:
        await agent.wait_connected()
        ...

or ``await EdgeAgent(settings, driver).run()`` until cancelled.
"""

from devices.broker_address import BrokerAddress
from edge.agent import EdgeAgent
from edge.driver import DeviceDriver, DeviceHandle, TelemetryScalar
from edge.errors import (
    CommandRefused,
    EdgeError,
    OutboxError,
    RequestTimeout,
    UnknownMethod,
)
from edge.outbox import MemoryOutbox, Outbox, SqliteOutbox
from edge.settings import AgentSettings
from edge.stats import AgentStats

__all__ = [
    "AgentSettings",
    "AgentStats",
    "BrokerAddress",
    "CommandRefused",
    "DeviceDriver",
    "DeviceHandle",
    "EdgeAgent",
    "EdgeError",
    "MemoryOutbox",
    "Outbox",
    "OutboxError",
    "RequestTimeout",
    "SqliteOutbox",
    "TelemetryScalar",
    "UnknownMethod",
]
