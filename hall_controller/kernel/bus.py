"""The bus port: what the services see of the message broker, with no broker library in it.

A service receives ``InboundMessage``s and publishes through a ``Publisher``; the MQTT adapter
(``kernel/mqtt_bus.py``) implements both over aiomqtt, and unit tests use fakes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from hall_controller.kernel.errors import HallError


class BrokerUnavailable(HallError):
    """The broker cannot be reached right now; the caller may retry."""


@dataclass(slots=True)
class InboundMessage:
    """One message from a device, with a way to acknowledge it once its effects are durable."""

    topic: str
    payload: bytes
    received_ms: int
    _ack: Callable[[], None] = field(repr=False, default=lambda: None)
    acked: bool = False

    def ack(self) -> None:
        """Send PUBACK (no-op for QoS 0, or if the connection it came on is gone).

        Once only: the broker reuses a packet id as soon as it is acknowledged, so a second
        PUBACK could acknowledge some later message before it is committed."""
        if not self.acked:
            self.acked = True
            self._ack()


MessageSink = Callable[[InboundMessage], Awaitable[None]]
"""Where the bus hands each inbound message; it may block, which stops the bus reading."""


class Publisher(Protocol):
    """Sends a message to the broker (QoS 1). Raises HallError subclasses on failure
    (``BrokerUnavailable`` while disconnected)."""

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None: ...


class ControllerBus(Publisher, Protocol):
    """The controller's broker connection (``kernel.mqtt_bus.MqttBus``): it publishes, hands
    every inbound message to ``sink`` while it runs, reports being connected (subscriptions
    acknowledged), and says goodbye on the controller's state topic before it stops."""

    connected: asyncio.Event

    async def run(self, sink: MessageSink) -> None: ...

    async def say_goodbye(self) -> None: ...
