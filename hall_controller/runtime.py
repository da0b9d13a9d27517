"""The controller's composition: services wired over a store and a bus, run as owned tasks.

Adapters come in from outside (``hall`` builds them from the config), so tests can run the
whole controller over a real broker and database, or over fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from devices.contract import Command, Topics, now_ms
from devices.kinds import DeviceKind
from devices.signing import derive_device_key, sign_command
from hall_controller.access.face_checkin import FaceCheckIn, PersonCases
from hall_controller.access.ports import AccessStore
from hall_controller.access.service import AccessService, Signer
from hall_controller.cases.ports import CaseLinks
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.commands import CommandService
from hall_controller.fleet.device_alarms import DeviceAlarmRules
from hall_controller.fleet.health import HealthService
from hall_controller.fleet.ingest import IngestPipeline
from hall_controller.fleet.metrics import IngestCounters
from hall_controller.fleet.ports import HallStore
from hall_controller.fleet.registry import DeviceRegistry
from hall_controller.fleet.requests import RequestRouter
from hall_controller.kernel.mqtt_bus import MqttBus
from hall_controller.queue.clerk import ClerkService
from hall_controller.queue.ports import RemoteTicketStore, TicketMoveStore, TicketStore, WaitInputsSource
from hall_controller.queue.remote_tickets import RemoteTicketService
from hall_controller.queue.tickets import QueueSettings, TicketCaseRecorder, TicketService

logger = logging.getLogger(__name__)


def _default_timeouts() -> dict[DeviceKind, float]:
    return {DeviceKind.KIOSK: 90.0, DeviceKind.FACE_GATE: 60.0, DeviceKind.DOOR_LOCK: 300.0,
            DeviceKind.QUEUE_DISPLAY: 90.0}


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
    max_payload_bytes: int = 65_536
    command_timeout_s: float = 10.0
    command_ttl_s: float = 30.0
    presence_check_interval_s: float = 2.0
    inactivity_timeout_s: dict[DeviceKind, float] = field(default_factory=_default_timeouts)
    telemetry_retention_days: int = 90
    maintenance_interval_s: float = 3600.0
    queue: QueueSettings = field(default_factory=QueueSettings)
    # Entrance gates (device ids or patterns) whose face grants check visitors in (无感签到).
    checkin_gates: tuple[str, ...] = ()


def command_signer(master_secret: bytes) -> Signer:
    """Signs a door command with the key derived for the device it goes to."""
    def sign(command: Command, device_id: str) -> Command:
        return sign_command(command, device_id, derive_device_key(master_secret, device_id))
    return sign


class HallController:
    """Owns the bus, the pipeline and the background watchers. Use ``running()``."""

    def __init__(self, settings: ControllerSettings, store: HallStore,
                 *, tickets: TicketStore | None = None, cases: CaseLinks | None = None,
                 wait_inputs: WaitInputsSource | None = None,
                 ticket_cases: TicketCaseRecorder | None = None,
                 clerk: Callable[[HallController], ClerkService] | None = None,
                 moves: TicketMoveStore | None = None,
                 remote_tickets: RemoteTicketStore | None = None,
                 access: AccessStore | None = None,
                 command_secret: bytes | None = None) -> None:
        """``tickets``: where tickets are stored; by default the store itself when it
        implements the ticket port too (``PostgresHallStore``). Without one, the controller
        takes no tickets (``ticket.take`` answers unknown_method).
        ``cases``: the online cases a kiosk ticket is linked to (``CaseService``); without
        them ``ticket.take`` answers ``cases: []``.
        ``wait_inputs``: what the wait estimate reads (recent service times, queue lengths,
        busy windows); without it the estimate uses the configured default service time.
        ``ticket_cases``: where a ticket records the cases linked to it (``Ticket.case_ids``).
        ``clerk``: builds the window terminal's service once the registry and the command
        service exist (it announces calls on the displays through them).
        ``moves`` and ``remote_tickets``: with both (and a ticket store), remote tickets
        (指尖办) are on: ``self.remote`` takes them, kiosks check them in, and a housekeeping
        task lapses the overdue ones and runs the daily rollover.
        ``access``: people, faces, rules and the audit; with it gates and locks sync their
        policy (``access.sync``) and doors can be unlocked remotely, signed with keys derived
        from ``command_secret``; the entrance gates in ``settings.checkin_gates`` check
        visitors in by face."""
        self.settings = settings
        self.store = store
        self.topics = Topics(settings.topic_prefix)
        self.counters = IngestCounters()
        self.alarms = AlarmService(store)
        self.registry = DeviceRegistry(store, self.alarms, settings.inactivity_timeout_s,
                                       shared=bool(settings.shared_group))
        self.bus = MqttBus(settings.mqtt_url, self.topics, client_id=settings.client_id,
                           shared_group=settings.shared_group, keepalive_s=settings.keepalive_s)
        self.commands = CommandService(store, self.bus, self.registry, self.topics,
                                       default_timeout_s=settings.command_timeout_s,
                                       ttl_s=settings.command_ttl_s)
        self.requests = RequestRouter()
        if tickets is None and isinstance(store, TicketStore):
            tickets = store
        self.tickets: TicketService | None = None
        if tickets is not None:
            self.tickets = TicketService(tickets, settings.queue, cases=cases,
                                         wait_inputs=wait_inputs, ticket_cases=ticket_cases)
            self.requests.register("ticket.take", self.tickets.take)
        self.remote: RemoteTicketService | None = None
        if self.tickets is not None and tickets is not None and moves is not None \
                and remote_tickets is not None:
            self.remote = RemoteTicketService(self.tickets, tickets, moves, remote_tickets,
                                              cases=cases, ticket_cases=ticket_cases)
            self.tickets.checkin = self.remote
        self.pipeline = IngestPipeline(
            store, self.registry, commands=self.commands, requests=self.requests,
            publisher=self.bus, topics=self.topics, counters=self.counters,
            queue_size=settings.queue_size, batch_max=settings.batch_max,
            max_payload_bytes=settings.max_payload_bytes, alarms=self.alarms)
        # What devices report raises and clears alarms (forced doors, paper out, ...).
        self.pipeline.on_event(DeviceAlarmRules(self.alarms))
        self.access: AccessService | None = None
        if access is not None:
            self.access = AccessService(
                access, self.registry, self.commands,
                signer=command_signer(command_secret) if command_secret else None,
                timezone=settings.queue.timezone)
            self.requests.register("access.sync", self.access.sync)
            if self.tickets is not None and tickets is not None and settings.checkin_gates:
                self.pipeline.on_event(FaceCheckIn(
                    settings.checkin_gates, self.tickets, tickets, registry=self.registry,
                    commands=self.commands, audit=access,
                    cases=cases if isinstance(cases, PersonCases) else None,
                    remote=remote_tickets))
        self.health = HealthService(store, self.counters, self.bus.connected.is_set,
                                    lambda: self.pipeline.queue_depth, self._online_counts)
        self.clerk: ClerkService | None = clerk(self) if clerk is not None else None

    def _online_counts(self) -> tuple[int, int]:
        devices = self.registry.all()
        return sum(d.online for d in devices), len(devices)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[HallController]:
        """Start everything; on exit say goodbye on the controller's state topic and stop."""
        await self.registry.load()
        if self.tickets is not None:
            await self.tickets.start()  # the catalog must be in place before the first request
        async with asyncio.TaskGroup() as tasks:
            owned = [
                tasks.create_task(self.pipeline.run(), name="ingest-pipeline"),
                tasks.create_task(self.bus.run(self.pipeline.submit), name="mqtt-bus"),
                tasks.create_task(
                    self.registry.watch_timeouts(self.settings.presence_check_interval_s),
                    name="presence-watchdog"),
                tasks.create_task(self._maintain_storage(), name="storage-maintenance"),
            ]
            if self.remote is not None:
                owned.append(tasks.create_task(self.remote.run(), name="queue-housekeeping"))
            try:
                yield self
            finally:
                if self.clerk is not None:
                    await self.clerk.aclose()  # its display announcements go out through us
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
