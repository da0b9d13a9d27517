"""The running controller: the device fleet over a store and a bus, plus the installed
features, run as owned tasks.

Adapters and features come in from outside (``hall.assembly`` builds them from the config), so
tests can run the whole controller over a real broker and database, or over fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from devices.contract import MAX_PAYLOAD_BYTES, Topics, now_ms
from devices.kinds import DeviceKind
from hall_controller.fleet.alarm_clearing import StaffAlarmClearing
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.commands import CommandService
from hall_controller.fleet.device_alarms import DeviceAlarmRules
from hall_controller.fleet.health import HealthService
from hall_controller.fleet.ingest import IngestPipeline
from hall_controller.fleet.metrics import IngestCounters
from hall_controller.fleet.ports import HallStore
from hall_controller.fleet.presence import DEFAULT_INACTIVITY_TIMEOUT_S
from hall_controller.fleet.registry import DeviceRegistry
from hall_controller.fleet.requests import RequestRouter
from hall_controller.fleet.views import FleetViews
from hall_controller.kernel.bus import ControllerBus
from hall_controller.kernel.services import Services

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """What the controller needs to know; ``hall`` fills it from the config tree."""

    mqtt_url: str
    topic_prefix: str = "hall/v1"
    client_id: str = "hall-controller"
    shared_group: str = ""
    keepalive_s: int = 30
    queue_size: int = 10_000
    batch_max: int = 1_000
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    command_timeout_s: float = 10.0
    command_ttl_s: float = 30.0
    presence_check_interval_s: float = 2.0
    inactivity_timeout_s: dict[DeviceKind, float] = field(
        default_factory=lambda: dict(DEFAULT_INACTIVITY_TIMEOUT_S))
    telemetry_retention_days: int = 90
    maintenance_interval_s: float = 3600.0


class Feature(Protocol):
    """A part of the hall the composition root installs (``hall_controller.features``): it
    registers its services, request handlers, event listeners and background jobs on the
    controller. A feature that is off is simply not installed."""

    def install(self, hall: HallController) -> None: ...


Job = Callable[[], Coroutine[Any, Any, None]]
Hook = Callable[[], Awaitable[None]]


class HallController:
    """The device fleet (always there) plus the installed features; owns the bus, the
    pipeline and the background jobs. Use ``running()``."""

    def __init__(self, settings: ControllerSettings, store: HallStore, bus: ControllerBus,
                 features: Sequence[Feature] = ()) -> None:
        """``bus`` is built by the composition root (``hall.assembly``) over the same
        ``topics``; ``features`` are installed in order (a feature may use the services of
        the ones before it)."""
        self.settings = settings
        self.store = store
        self.topics = Topics(settings.topic_prefix)
        self.services = Services()
        self.counters = IngestCounters()
        self.alarms = AlarmService(store)
        self.registry = DeviceRegistry(store, self.alarms, settings.inactivity_timeout_s,
                                       shared=bool(settings.shared_group))
        self.bus = bus
        self.commands = CommandService(store, self.bus, self.registry, self.topics,
                                       default_timeout_s=settings.command_timeout_s,
                                       ttl_s=settings.command_ttl_s)
        self.requests = RequestRouter()
        self.pipeline = IngestPipeline(
            store, self.registry, commands=self.commands, requests=self.requests,
            publisher=self.bus, topics=self.topics, counters=self.counters,
            queue_size=settings.queue_size, batch_max=settings.batch_max,
            max_payload_bytes=settings.max_payload_bytes, alarms=self.alarms)
        # What devices report raises and clears alarms (forced doors, paper out, ...).
        self.pipeline.on_event(DeviceAlarmRules(self.alarms))
        self.health = HealthService(store, self.counters, self.bus.connected.is_set,
                                    lambda: self.pipeline.queue_depth, self._online_counts)
        # What staff look at through the API: devices, telemetry, events, alarms, commands.
        for service in (self.alarms, self.registry, self.commands, self.health,
                        FleetViews(store), StaffAlarmClearing(self.alarms, store)):
            self.services.add(service)
        self._jobs: list[tuple[str, Job]] = []
        self._on_start: list[Hook] = []
        self._on_stop: list[Hook] = []
        for feature in features:
            feature.install(self)

    def add_job(self, name: str, job: Job) -> None:
        """Run ``job()`` as an owned task for as long as the controller runs."""
        self._jobs.append((name, job))

    def on_start(self, hook: Hook) -> None:
        """Await ``hook()`` before the bus connects (a catalog to load, say)."""
        self._on_start.append(hook)

    def on_stop(self, hook: Hook) -> None:
        """Await ``hook()`` while the bus is still up, before the goodbye (last words to
        devices, say); hooks run in reverse order of installation."""
        self._on_stop.append(hook)

    def _online_counts(self) -> tuple[int, int]:
        devices = self.registry.all()
        return sum(d.online for d in devices), len(devices)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[HallController]:
        """Start everything; on exit say goodbye on the controller's state topic and stop."""
        await self.registry.load()
        for hook in self._on_start:
            await hook()  # e.g. the ticket catalog, in place before the first request
        async with asyncio.TaskGroup() as tasks:
            owned = [
                tasks.create_task(self.pipeline.run(), name="ingest-pipeline"),
                tasks.create_task(self.bus.run(self.pipeline.submit), name="mqtt-bus"),
                tasks.create_task(
                    self.registry.watch_timeouts(self.settings.presence_check_interval_s),
                    name="presence-watchdog"),
                tasks.create_task(self._maintain_storage(), name="storage-maintenance"),
            ]
            owned += [tasks.create_task(job(), name=name) for name, job in self._jobs]
            try:
                yield self
            finally:
                for hook in reversed(self._on_stop):
                    await hook()
                await self.bus.say_goodbye()
                self.commands.forget_waiting()
                for task in owned:
                    task.cancel()

    async def _maintain_storage(self) -> None:
        """Partitions ahead, retention behind; harmless to run on every controller."""
        maintain = getattr(self.store, "maintain", None)
        if maintain is None:
            return
        while True:
            try:
                await maintain(now_ms())
            except Exception:
                logger.exception("storage maintenance failed; will retry")
            await asyncio.sleep(self.settings.maintenance_interval_s)
