"""How each room plugs into the running controller.

A feature takes the ports of its room (built by the composition root, ``hall.assembly``),
builds its services, and installs them on the controller: services into ``hall.services`` (the
API finds them there), request handlers, event listeners, background jobs, start and stop
hooks. A feature needing another's service finds it in ``hall.services``; install order is the
composition root's list. Nothing here builds an adapter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from devices.contract import Command
from devices.signing import sign_command
from hall_controller.access.face_checkin import FaceCheckIn, PersonCases
from hall_controller.access.grant_check import GrantCheck
from hall_controller.access.policy_refusals import PolicyRefusals
from hall_controller.access.ports import AccessStore
from hall_controller.access.service import AccessService, Signer
from hall_controller.alarm_rules.evaluation import BuiltinTunings, RuleEvaluation
from hall_controller.alarm_rules.model import KNOWN_METRICS
from hall_controller.alarm_rules.ports import AlarmRuleStore, RuleHistory
from hall_controller.alarm_rules.rules import RuleEngine
from hall_controller.alarm_rules.service import AlarmRuleService
from hall_controller.cases.destination_guard import DestinationGuard, Resolver, system_resolver
from hall_controller.cases.destinations import DestinationPolicy
from hall_controller.cases.integration_keys import ApiKeyService
from hall_controller.cases.ports import CaseLinks, IntegrationStore
from hall_controller.cases.service import CaseService
from hall_controller.cases.webhooks import RetryPolicy, WebhookDispatcher, WebhookService
from hall_controller.fleet.model import DeviceRecord
from hall_controller.fleet.ports import ProvisioningStore
from hall_controller.fleet.provisioning import CommandKeys, DeviceIdentities, ProvisioningService
from hall_controller.fleet.requests import Handler, RequestError
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict
from hall_controller.notify.directory import NotifyDirectory
from hall_controller.notify.dispatch import DeliveryDispatcher
from hall_controller.notify.model import Channel
from hall_controller.notify.ports import ChannelSender, NotifyStore
from hall_controller.notify.rules import AckLinks
from hall_controller.notify.service import NotificationService, NotifySettings
from hall_controller.queue.clerk import ClerkService, ClerkSettings
from hall_controller.queue.kiosk_keys import KioskKeyService
from hall_controller.queue.kiosk_pairing import KioskPairingService, KioskStore
from hall_controller.queue.ports import (
    RemoteTicketStore,
    StatsStore,
    TicketMoveStore,
    TicketStore,
    WaitInputsSource,
)
from hall_controller.queue.remote_tickets import RemoteTicketService
from hall_controller.queue.stats import StatsService
from hall_controller.queue.tickets import QueueSettings, TicketCaseRecorder, TicketService
from hall_controller.runtime import HallController
from hall_controller.sign_on.cas import CasClient, CasSettings
from hall_controller.sign_on.oidc import OidcClient, OidcSettings
from hall_controller.sign_on.ports import ProviderHttp, SignOnStore
from hall_controller.sign_on.rules import ClaimMapping
from hall_controller.sign_on.service import SessionSettings, SignOnService
from hall_controller.users.ports import UserStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceIdentityFeature:
    """Provisioned devices (``fleet/provisioning.py``): the provisioning service for the CLI
    and the API, and the identity check in the ingest pipeline. Without ``auto_register`` a
    device nobody provisioned is not heard (``unknown_device``); a revoked one never is
    (``revoked_device``); a provisioned device's birth must claim its provisioned kind.
    ``broker_url``: the broker address the bundles give device hosts. Install it first: the
    access feature signs with the keys it holds."""

    store: ProvisioningStore
    auto_register: bool
    broker_url: str = "mqtt://127.0.0.1:1883"
    reload_interval_s: float = 5.0

    def install(self, hall: HallController) -> None:
        identities = DeviceIdentities(self.store, auto_register=self.auto_register)
        provisioning = ProvisioningService(self.store, broker_url=self.broker_url,
                                           topic_prefix=hall.settings.topic_prefix,
                                           reserved=(hall.settings.client_id,))
        provisioning.subscribe(identities.remember)
        hall.services.add(identities)
        hall.services.add(provisioning)
        hall.pipeline.check_identities(identities)
        hall.on_start(identities.reload)
        hall.add_job("device-identities", lambda: _reload_forever(identities,
                                                                   self.reload_interval_s))
        if self.auto_register:
            logger.warning("devices.auto_register is on: devices nobody provisioned are heard "
                           "and registered by their first birth (demo and tests only)")
        else:
            logger.info("devices.auto_register is off: only provisioned devices are heard")


async def _reload_forever(identities: DeviceIdentities, interval_s: float) -> None:
    """Adopt what was provisioned or revoked elsewhere (``hall devices`` in another process)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await identities.reload()
        except Exception:
            logger.exception("device credentials not reloaded; will retry")


@dataclass(frozen=True, slots=True)
class CasesFeature:
    """Online cases (一网通办): the case service, API keys, webhooks and their dispatcher.
    Webhooks reach public addresses only, and the internal ones ``webhook_destinations``
    allows; both registration and every delivery check them."""

    store: IntegrationStore
    webhook_destinations: DestinationPolicy = field(default_factory=DestinationPolicy)
    resolver: Resolver = system_resolver

    def install(self, hall: HallController) -> None:
        cases = CaseService(self.store)
        guard = DestinationGuard(self.webhook_destinations, resolver=self.resolver)
        dispatcher = WebhookDispatcher(self.store, guard=guard)
        # Prompt delivery: without the wake-up an event would wait for the next poll (2 s).
        cases.subscribe(lambda events: dispatcher.wake())
        hall.services.add(cases)
        hall.services.add(WebhookService(self.store, guard=guard))
        hall.services.add(ApiKeyService(self.store))
        # Deliveries not made when it stops stay in the database for the next start.
        hall.add_job("webhook-dispatcher", dispatcher.run)


@dataclass(frozen=True, slots=True)
class TicketsFeature:
    """Queue tickets from kiosks (``ticket.take``), linked to the visitor's online cases when
    the cases feature is installed before it."""

    store: TicketStore
    settings: QueueSettings
    wait_inputs: WaitInputsSource | None = None
    ticket_cases: TicketCaseRecorder | None = None
    cases: CaseLinks | None = None   # without CasesFeature: links to cases kept elsewhere
    kiosk_keys: KioskStore | None = None   # browser kiosks (the API's /kiosk routes)

    def install(self, hall: HallController) -> None:
        tickets = TicketService(self.store, self.settings, cases=_case_links(hall, self.cases),
                                wait_inputs=self.wait_inputs, ticket_cases=self.ticket_cases)
        hall.services.add(tickets)
        cases = hall.services.find(CaseService)
        if cases is not None:
            tickets.visitors.append(cases)
        if self.kiosk_keys is not None:
            keys = KioskKeyService(self.kiosk_keys)
            hall.services.add(keys)
            hall.services.add(KioskPairingService(self.kiosk_keys, keys))
        hall.requests.register("ticket.take", tickets.take)
        hall.on_start(tickets.start)  # the catalog must be in place before the first request


@dataclass(frozen=True, slots=True)
class RemoteTicketsFeature:
    """指尖办: tickets taken before arriving, kiosk check-in, lapse and the daily rollover.
    Needs ``TicketsFeature``."""

    store: TicketStore
    moves: TicketMoveStore
    remote: RemoteTicketStore
    ticket_cases: TicketCaseRecorder | None = None
    cases: CaseLinks | None = None

    def install(self, hall: HallController) -> None:
        tickets = hall.services.get(TicketService)
        remote = RemoteTicketService(tickets, self.store, self.moves, self.remote,
                                     cases=_case_links(hall, self.cases),
                                     ticket_cases=self.ticket_cases)
        tickets.checkin = remote
        hall.services.add(remote)
        hall.add_job("queue-housekeeping", remote.run)


@dataclass(frozen=True, slots=True)
class WindowsFeature:
    """The window terminal (clerk): calls announced on the displays through the fleet."""

    store: TicketStore
    moves: TicketMoveStore
    settings: ClerkSettings
    cases: CaseLinks | None = None

    def install(self, hall: HallController) -> None:
        clerk = ClerkService(self.store, self.moves, self.settings, devices=hall.registry,
                             commands=hall.commands, cases=_case_links(hall, self.cases))
        hall.services.add(clerk)
        hall.on_stop(clerk.aclose)  # its display announcements go out through the bus


@dataclass(frozen=True, slots=True)
class StatsFeature:
    """The queue's daily figures and the one-trip rate (with the cases feature)."""

    store: StatsStore
    timezone: str
    settings: QueueSettings

    def install(self, hall: HallController) -> None:
        hall.services.add(StatsService(self.store, self.timezone,
                                       one_trip=hall.services.find(CaseService),
                                       services=self.settings.services,
                                       rollover_at=self.settings.rollover_at))


@dataclass(frozen=True, slots=True)
class AccessFeature:
    """People, faces, rules and the audit; gates and locks sync their policy
    (``access.sync``, answered only for provisioned devices when ``DeviceIdentityFeature`` is
    installed, unless it admits unprovisioned ones; each reply signed with the device's key),
    doors unlock remotely with commands signed by each device's key (``CommandKeys``: its
    provisioned key, else one derived from ``command_secret``; without any, remote unlock is
    refused and policies go unsigned: demo and development only). Every ``access.granted`` is
    checked against the controller's own policy for that device (``GrantCheck``); a policy a
    device refused is audited and raises an alarm (``PolicyRefusals``)."""

    store: AccessStore
    command_secret: bytes | None
    timezone: str

    def install(self, hall: HallController) -> None:
        identities = hall.services.find(DeviceIdentities)
        keys = CommandKeys(identities, self.command_secret)
        # ``CommandKeys.key_for(device_id)``: the one lookup of a device's key, for its door
        # commands and its signed access.sync replies.
        hall.services.add(keys)
        signs = identities is not None or self.command_secret is not None
        access = AccessService(
            self.store, hall.registry, hall.commands, timezone=self.timezone,
            signer=command_signer(keys) if signs else None,
            device_keys=keys.key_for if signs else None,
            # Without a master secret only provisioned devices have keys; an unprovisioned one
            # (devices.auto_register: tests, a lab) gets its policy unsigned, as before keys.
            unsigned_when_keyless=self.command_secret is None)
        hall.services.add(access)
        tickets = hall.services.find(TicketService)
        if tickets is not None:  # a kiosk's card read is known if it is one of our people's
            tickets.visitors.append(access)
        sync: Handler = access.sync
        if identities is not None:
            sync = provisioned_only(identities, sync)
        hall.requests.register("access.sync", sync)
        hall.pipeline.on_event(GrantCheck(access, self.store, hall.alarms))
        hall.pipeline.on_event(PolicyRefusals(self.store, hall.alarms))


@dataclass(frozen=True, slots=True)
class FaceCheckInFeature:
    """无感签到: a face granted at one of the entrance ``gates`` checks its visitor in (their
    remote ticket, else a new one for their case). Needs ``TicketsFeature``; with
    ``AccessFeature`` a grant its policy does not contain checks no one in."""

    gates: Sequence[str]
    tickets: TicketStore
    audit: AccessStore
    remote: RemoteTicketStore | None = None
    cases: PersonCases | None = None

    def install(self, hall: HallController) -> None:
        cases = self.cases or hall.services.find(CaseService)
        hall.pipeline.on_event(FaceCheckIn(
            self.gates, hall.services.get(TicketService), self.tickets, registry=hall.registry,
            commands=hall.commands, audit=self.audit,
            cases=cases if isinstance(cases, PersonCases) else None, remote=self.remote,
            policies=hall.services.find(AccessService)))


@dataclass(frozen=True, slots=True)
class NotifyFeature:
    """Alarm notification (``notify/``): every alarm the ``AlarmService`` raises is sent to
    the people the rota and the recipients say, on the configured ``senders``, escalated
    while nobody acknowledges it, held in maintenance windows, digested when minor or
    flapping. Acknowledgement links are signed by ``links`` (None: no links)."""

    store: NotifyStore
    settings: NotifySettings
    senders: Mapping[Channel, ChannelSender]
    links: AckLinks | None
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def install(self, hall: HallController) -> None:
        dispatcher = DeliveryDispatcher(self.store, self.senders, policy=self.retry)

        def site_of(device_id: str) -> str:
            device = hall.registry.get(device_id)
            return "" if device is None else device.site

        notifier = NotificationService(
            self.store, hall.alarms, hall.store, self.settings, channels=self.senders.keys(),
            links=self.links, site_of=site_of, wake_dispatcher=dispatcher.wake)
        hall.alarms.subscribe(notifier.heard)
        hall.services.add(notifier)
        hall.services.add(NotifyDirectory(self.store, self.settings.timezone))
        hall.services.add(dispatcher)
        # Undelivered messages stay in the database for the next start.
        hall.add_job("alarm-notifier", notifier.run)
        hall.add_job("notification-dispatcher", dispatcher.run)


@dataclass(frozen=True, slots=True)
class AlarmRulesFeature:
    """Alarm rules staff edit (``alarm_rules/``): judged on the ingest path (in memory) and
    a one-second timer, raised and cleared through the fleet's ``AlarmService``; and the
    tuning of the built-in alarms (severity, delay, off), which the fleet asks through
    ``hall.alarms.tuning``. ``timezone``: the local time of a rule's active hours."""

    store: AlarmRuleStore
    history: RuleHistory
    timezone: str
    tick_s: float = 1.0

    def install(self, hall: HallController) -> None:
        zone = ZoneInfo(self.timezone)
        service = AlarmRuleService(self.store, self.history, hall.registry, zone)
        tunings = BuiltinTunings(hall.registry)
        hall.alarms.tuning = tunings
        evaluation = RuleEvaluation(RuleEngine(zone, KNOWN_METRICS), self.store, hall.alarms,
                                    hall.registry, tunings, latest=hall.store,
                                    tick_s=self.tick_s)
        service.subscribe(evaluation.rules_changed)
        hall.services.add(service)
        hall.services.add(evaluation)
        hall.pipeline.on_telemetry(evaluation.on_telemetry)
        hall.pipeline.on_event(evaluation.on_event)
        hall.on_start(evaluation.load)
        hall.add_job("alarm-rules", evaluation.run)
        hall.add_job("alarm-rules-timer", evaluation.tick_forever)


@dataclass(frozen=True, slots=True)
class SignOnFeature:
    """Campus sign-on (统一身份认证, ``sign_on/``): OpenID Connect and/or CAS 3.0 sign-in for
    the pages, page sessions, back-channel and single logout. ``provider`` reaches the IdP
    (closed when the hall stops); ``local_users``: a local account disabled by an admin
    refuses a sign-on of its name."""

    store: SignOnStore
    mapping: ClaimMapping
    sessions: SessionSettings
    oidc: OidcSettings | None
    provider: ProviderHttp
    local_users: UserStore | None = None
    cas: CasSettings | None = None

    def install(self, hall: HallController) -> None:
        hall.services.add(SignOnService(
            self.store, self.mapping, self.sessions,
            oidc=None if self.oidc is None else OidcClient(self.oidc, self.provider),
            cas=None if self.cas is None else CasClient(self.cas, self.provider),
            local_users=self.local_users))
        hall.on_stop(self.provider.aclose)


def command_signer(keys: CommandKeys) -> Signer:
    """Signs a door command with the key of the device it goes to (``keys.key_for``)."""
    def sign(command: Command, device_id: str) -> Command:
        key = keys.key_for(device_id)
        if key is None:
            raise Conflict(f"{device_id} has no command key: provision it first",
                           code=ErrorCode.DEVICE_NO_COMMAND_KEY, device=device_id)
        return sign_command(command, device_id, key)
    return sign


def provisioned_only(identities: DeviceIdentities, handler: Handler) -> Handler:
    """``handler`` for provisioned devices only (and for unprovisioned ones while
    ``auto_register`` admits them); others get ``not_provisioned``. The ingest pipeline
    refuses such devices already; this holds even if a message slips past it."""
    async def guarded(device_id: str, device: DeviceRecord | None, params: dict[str, Any],
                      request_id: str) -> dict[str, Any]:
        if not identities.is_provisioned(device_id) and (
                identities.credential(device_id) is not None or not identities.auto_register):
            raise RequestError("not_provisioned", f"{device_id} is not a provisioned device")
        return await handler(device_id, device, params, request_id)
    return guarded


def _case_links(hall: HallController, given: CaseLinks | None) -> CaseLinks | None:
    """The cases a ticket links to: given explicitly, else the installed cases feature's."""
    return given if given is not None else hall.services.find(CaseService)
