"""Many simulated devices in one process, each a full ``EdgeAgent`` with its own MQTT identity.

``hall demo`` and ``hall simulate --devices N`` call ``run_fleet``; it runs until cancelled,
and on cancellation every agent says goodbye (retained offline state) before it disconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devices.contract import DEFAULT_PREFIX
from devices.kinds import DeviceKind
from devices.signing import derive_device_key
from edge.agent import EdgeAgent
from edge.settings import AgentSettings
from simulators.catalog import simulated_driver

logger = logging.getLogger(__name__)

SHORT_NAMES: dict[DeviceKind, str] = {
    DeviceKind.KIOSK: "kiosk",
    DeviceKind.FACE_GATE: "gate",
    DeviceKind.DOOR_LOCK: "lock",
    DeviceKind.QUEUE_DISPLAY: "display",
}
# Up to this many of a kind get short ids (kiosk-01); more get sim-kiosk-0001.
SHORT_ID_LIMIT = 99
# Connecting many clients in the same instant is a thundering herd (amqtt timed out one of 13
# simultaneous connects): spread the starts evenly, over about a second for a small fleet and
# a little more per device for a large one, but never more than MAX_STAGGER_S in all.
MIN_STAGGER_S = 1.0
MAX_STAGGER_S = 2.0
STAGGER_PER_DEVICE_S = 0.005


DEMO_MASTER_SECRET = b"hall-demo-master-secret/not-for-production"
"""The master secret simulated locks derive their command keys from unless given another.
Public, so only for demos and tests: a real controller has its own and passes it here."""


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """What provisioning gave one device (``hall devices provision``): its broker URL with
    its username and password, and its command key."""

    broker_url: str
    command_key: bytes

    def __repr__(self) -> str:
        return "DeviceCredentials(...)"


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One simulated device of a fleet."""

    device_id: str
    kind: DeviceKind


def fleet_plan(
    *,
    devices_per_kind: int | None = None,
    count: int | None = None,
    kinds: Sequence[DeviceKind] = tuple(DeviceKind),
) -> list[DeviceSpec]:
    """The devices of a fleet: ``devices_per_kind`` of every kind, or ``count`` spread evenly.

    Ids are ``kiosk-01``, ``gate-01``, ``lock-01``, ``display-01``; past 99 of a kind they are
    ``sim-kiosk-0001`` and so on.
    """
    if (devices_per_kind is None) == (count is None):
        raise ValueError("give exactly one of devices_per_kind and count")
    if not kinds:
        raise ValueError("a fleet needs at least one device kind")
    if devices_per_kind is not None:
        if devices_per_kind < 0:
            raise ValueError("devices_per_kind must not be negative")
        per_kind = dict.fromkeys(kinds, devices_per_kind)
    else:
        assert count is not None
        if count < 0:
            raise ValueError("count must not be negative")
        per_kind = {kind: count // len(kinds) + (i < count % len(kinds))
                    for i, kind in enumerate(kinds)}
    specs = []
    for kind, n in per_kind.items():
        short = SHORT_NAMES[kind]
        for i in range(1, n + 1):
            device_id = f"{short}-{i:02d}" if n <= SHORT_ID_LIMIT else f"sim-{short}-{i:04d}"
            specs.append(DeviceSpec(device_id, kind))
    return specs


def build_agent(
    broker_url: str,
    topic_prefix: str = DEFAULT_PREFIX,
    data_dir: Path | None = None,
    *,
    device_id: str,
    kind: DeviceKind,
    model: str | None = None,
    fw: str = "sim-1.0",
    site: str = "main-hall",
    telemetry_interval_s: float = 5.0,
    durable: bool = True,
    speed: float = 1.0,
    outbox_max_rows: int = 10_000,
    routine_log_level: int = logging.INFO,
    master_secret: bytes | None = DEMO_MASTER_SECRET,
    credentials: DeviceCredentials | None = None,
) -> EdgeAgent:
    """One simulated device's agent, not yet running; its files go in ``data_dir/<device id>/``.

    ``routine_log_level`` is the level of its connected / re-announced / goodbye messages.
    ``credentials``: a provisioned device's login and command key. Without them a door lock
    gets ``derive_device_key(master_secret, device_id)`` as its command key; with
    ``master_secret=None`` it has none and refuses every signed method (``no_key``).
    """
    key_needed = kind is DeviceKind.DOOR_LOCK and master_secret is not None
    command_key = derive_device_key(master_secret, device_id) \
        if key_needed and master_secret is not None else None
    if credentials is not None:
        broker_url, command_key = credentials.broker_url, credentials.command_key
    settings = AgentSettings(
        device_id=device_id,
        kind=kind,
        broker_url=broker_url,
        model=model or f"sim-{SHORT_NAMES[kind]}",
        fw=fw,
        site=site,
        topic_prefix=topic_prefix,
        data_dir=data_dir / device_id if data_dir is not None else None,
        durable=durable,
        telemetry_interval_s=telemetry_interval_s,
        outbox_max_rows=outbox_max_rows,
        routine_log_level=routine_log_level,
        command_key=command_key,
    )
    return EdgeAgent(settings, simulated_driver(kind, device_id, speed=speed))


def build_fleet(
    broker_url: str,
    topic_prefix: str = DEFAULT_PREFIX,
    data_dir: Path | None = None,
    *,
    devices_per_kind: int | None = None,
    count: int | None = None,
    telemetry_interval_s: float = 5.0,
    site: str = "main-hall",
    durable: bool = True,
    speed: float = 1.0,
    outbox_max_rows: int = 10_000,
    master_secret: bytes | None = DEMO_MASTER_SECRET,
    credentials: Mapping[str, DeviceCredentials] | None = None,
) -> list[EdgeAgent]:
    """The agents of a fleet, not yet running (see ``run_agents``).

    Every device keeps its outbox and session counter in ``data_dir/<device id>/``.
    ``durable=False`` keeps outboxes in memory (``data_dir`` may then be None).
    A fleet's routine session messages (connected, re-announced, goodbye) are logged at
    DEBUG, so a console shared with the controller shows the controller's view; lost
    connections are still warnings.  Locks derive their keys from ``master_secret``
    (see ``build_agent``), unless ``credentials`` has the device's provisioned ones.
    """
    credentials = credentials or {}
    if durable and data_dir is None:
        raise ValueError("a durable fleet needs a data_dir")
    return [
        build_agent(broker_url, topic_prefix, data_dir, device_id=spec.device_id, kind=spec.kind,
                    site=site, telemetry_interval_s=telemetry_interval_s, durable=durable,
                    speed=speed, outbox_max_rows=outbox_max_rows,
                    routine_log_level=logging.DEBUG, master_secret=master_secret,
                    credentials=credentials.get(spec.device_id))
        for spec in fleet_plan(devices_per_kind=devices_per_kind, count=count)
    ]


def start_delays(count: int) -> list[float]:
    """When each of ``count`` agents starts, in seconds from now: evenly spread, first at 0.

    The spread is MIN_STAGGER_S (12 devices: 83 ms apart), or STAGGER_PER_DEVICE_S per device
    when that is longer (past 200 devices), but at most MAX_STAGGER_S (400 devices: 5 ms apart;
    a larger fleet starts closer together rather than slower).
    """
    if count < 1:
        return []
    spread = min(MAX_STAGGER_S, max(MIN_STAGGER_S, STAGGER_PER_DEVICE_S * count))
    return [spread * i / count for i in range(count)]


async def run_agents(agents: Iterable[EdgeAgent]) -> None:
    """Run agents until cancelled, their starts (and first connects) spread by ``start_delays``."""
    agents = list(agents)
    delays = start_delays(len(agents))
    if agents:
        logger.info("starting %d simulated devices over %.1f s", len(agents), delays[-1])
    async with asyncio.TaskGroup() as tg:
        for agent, delay in zip(agents, delays, strict=True):
            tg.create_task(_run_after(agent, delay), name=f"fleet:{agent.device_id}")


async def _run_after(agent: EdgeAgent, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    await agent.run()


async def run_fleet(
    broker_url: str,
    topic_prefix: str = DEFAULT_PREFIX,
    data_dir: Path | None = None,
    *,
    devices_per_kind: int | None = None,
    count: int | None = None,
    telemetry_interval_s: float = 5.0,
    site: str = "main-hall",
    durable: bool = True,
    speed: float = 1.0,
    master_secret: bytes | None = DEMO_MASTER_SECRET,
) -> None:
    """Run a simulated fleet until cancelled.

    ``devices_per_kind=3`` gives kiosk-01..03, gate-01..03, lock-01..03, display-01..03;
    ``count=500`` gives 500 devices spread over the kinds.  ``speed`` runs the simulated
    world faster than the clock (a lively demo).  See ``build_fleet`` for the rest.
    """
    agents = build_fleet(broker_url, topic_prefix, data_dir, devices_per_kind=devices_per_kind,
                         count=count, telemetry_interval_s=telemetry_interval_s, site=site,
                         durable=durable, speed=speed, master_secret=master_secret)
    await run_agents(agents)
