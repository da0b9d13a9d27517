"""The settings of one agent, and the broker URL they name."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devices.broker_address import BrokerAddress
from devices.contract import DEFAULT_PREFIX, DEVICE_ID_PATTERN, is_valid_device_id
from devices.kinds import DeviceKind
from devices.signing import MIN_KEY_BYTES, SIGNED_METHODS

COMMAND_KEY_ENV = "HALL_COMMAND_KEY"
"""Environment variable holding a device's command key, in hex."""


def command_key_from_hex(text: str) -> bytes:
    """Parse a command key written in hex; raises ValueError naming what is wrong."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError("invalid command key: expected hex digits") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"invalid command key: {len(key)} bytes, at least {MIN_KEY_BYTES} needed")
    return key


def command_key_from_env(environ: Mapping[str, str] = os.environ) -> bytes | None:
    """The command key in ``HALL_COMMAND_KEY`` (hex), or None when it is unset or empty."""
    text = environ.get(COMMAND_KEY_ENV, "")
    return command_key_from_hex(text) if text.strip() else None


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """Who the agent is and how it talks to the broker.

    ``data_dir`` holds this device's outbox (``outbox.sqlite3``) and session counter
    (``session``); give every device its own.  ``durable=False`` keeps the outbox in memory
    (load simulations of many devices in one process); the session counter is still kept in
    ``data_dir`` when one is given.
    """

    device_id: str
    kind: DeviceKind
    broker_url: str
    model: str = "sim"
    fw: str = "1.0.0"
    site: str = ""
    topic_prefix: str = DEFAULT_PREFIX
    data_dir: Path | None = None
    durable: bool = True
    telemetry_interval_s: float = 5.0
    keepalive_s: int = 30
    mqtt_timeout_s: float = 10.0
    """How long to wait for a CONNACK, SUBACK or PUBACK before calling the connection lost."""
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    outbox_max_rows: int = 100_000
    """Outbox bound; when full the oldest telemetry is shed (events are never dropped)."""
    max_samples_per_message: int = 100
    """Telemetry samples batched into one JSON-list message when a backlog is flushed."""
    command_cache_size: int = 256
    """How many recent command ids are remembered to answer duplicates without re-executing."""
    shutdown_flush_s: float = 2.0
    """On a clean stop, how long to keep flushing the outbox before saying goodbye."""
    routine_log_level: int = logging.INFO
    """Level of the routine session messages (connected, re-announced, said goodbye).

    A fleet of simulated agents sharing a console with the controller sets ``logging.DEBUG``;
    trouble (a lost connection, malformed input) is logged as a warning either way."""

    command_key: bytes | None = field(default=None, repr=False)
    """This device's key for signed commands (``derive_device_key`` of the controller's master);
    without one the agent refuses every method that must be signed (``no_key``)."""
    signed_methods: frozenset[str] | None = None
    """Methods executed only when signed; None means the kind's default (``SIGNED_METHODS``)."""

    def __post_init__(self) -> None:
        if not is_valid_device_id(self.device_id):
            raise ValueError(f"invalid device id {self.device_id!r}: expected {DEVICE_ID_PATTERN}")
        broker = BrokerAddress.parse(self.broker_url)
        broker.ssl_context()  # TLS files that cannot be loaded fail here, naming the file
        if self.durable and self.data_dir is None:
            raise ValueError("a durable outbox needs a data_dir")
        if self.telemetry_interval_s <= 0 or self.reconnect_min_s <= 0:
            raise ValueError("telemetry_interval_s and reconnect_min_s must be positive")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        if not 1 <= self.max_samples_per_message <= 1000:
            raise ValueError("max_samples_per_message must be within 1..1000 (the contract limit)")
        if self.outbox_max_rows < 1 or self.command_cache_size < 1:
            raise ValueError("outbox_max_rows and command_cache_size must be positive")
        if self.command_key is not None and len(self.command_key) < MIN_KEY_BYTES:
            raise ValueError(f"command_key must be at least {MIN_KEY_BYTES} bytes")

    @property
    def methods_requiring_signature(self) -> frozenset[str]:
        """The methods this agent executes only with a valid signature."""
        if self.signed_methods is not None:
            return self.signed_methods
        return SIGNED_METHODS.get(self.kind, frozenset())

    @property
    def broker(self) -> BrokerAddress:
        """The parsed ``broker_url``."""
        return BrokerAddress.parse(self.broker_url)

    @property
    def mqtt_username(self) -> str:
        """The username the agent connects with: the broker URL's, or else the device id.

        Always presenting one matters: with broker auth the username is the device's identity
        (the controller checks it against the topic), and a broker may treat a nameless client
        as anonymous and forget its persistent session on disconnect (the embedded amqtt
        broker does), losing the commands queued for the device while it was away.  An empty
        username (``mqtt://:secret@host``) counts as none: the device id goes with the password.
        """
        return self.broker.username or self.device_id
