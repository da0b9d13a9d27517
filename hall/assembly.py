"""The composition root: the whole hall built from the validated config.

The only place that builds adapters and decides which features run. ``hall controller``,
``hall demo``, the tests that start a whole controller and the benchmarks all come through
here: ``postgres_adapters`` opens every store over one pool, ``hall_features`` lists the
features in install order, ``assemble`` adds the bus, the controller and the HTTP API.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import FastAPI

from hall.config import HallConfig
from hall.notify_assembly import notify_feature
from hall.settings import (
    auth_secret,
    clerk_settings,
    command_secret,
    controller_settings,
    hash_slots,
    queue_settings,
    throttle_policy,
)
from hall_controller.access.postgres_store import PostgresAccessStore
from hall_controller.alarm_rules.postgres_store import PostgresAlarmRuleStore
from hall_controller.cases.destinations import DestinationPolicy
from hall_controller.cases.postgres_store import PostgresCaseStore
from hall_controller.cases.postgres_ticket_links import PostgresTicketCases
from hall_controller.features import (
    AccessFeature,
    AlarmRulesFeature,
    CasesFeature,
    DeviceIdentityFeature,
    FaceCheckInFeature,
    RemoteTicketsFeature,
    StatsFeature,
    TicketsFeature,
    WindowsFeature,
)
from hall_controller.fleet.postgres_provisioning import PostgresProvisioningStore
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.kernel.mqtt_bus import MqttBus
from hall_controller.kernel.postgres.migrate import apply_migrations
from hall_controller.live.postgres_feed import PostgresLiveFeed
from hall_controller.notify.postgres_store import PostgresNotifyStore
from hall_controller.queue.postgres_kiosk_keys import PostgresKioskKeys
from hall_controller.queue.postgres_moves import PostgresTicketMoves
from hall_controller.queue.postgres_remote import PostgresRemoteTickets
from hall_controller.queue.postgres_stats import PostgresStatsStore
from hall_controller.queue.postgres_tickets import PostgresTicketStore
from hall_controller.runtime import ControllerSettings, Feature, HallController
from hall_controller.sign_on.cas import CasSettings
from hall_controller.sign_on.oidc import OidcSettings
from hall_controller.sign_on.postgres_store import PostgresSignOnStore
from hall_controller.sign_on.service import SessionSettings
from hall_controller.users.postgres_store import PostgresUserStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PostgresAdapters:
    """Every store of the hall over one pool (one pool per process, so the configured pool
    size is the whole budget), and the live feed on its own connection."""

    fleet: PostgresStore
    tickets: PostgresTicketStore
    moves: PostgresTicketMoves
    remote: PostgresRemoteTickets
    stats: PostgresStatsStore
    cases: PostgresCaseStore
    ticket_cases: PostgresTicketCases
    access: PostgresAccessStore
    users: PostgresUserStore
    provisioning: PostgresProvisioningStore
    kiosk_keys: PostgresKioskKeys
    notify: PostgresNotifyStore
    alarm_rules: PostgresAlarmRuleStore
    sign_on: PostgresSignOnStore
    live: PostgresLiveFeed


@contextlib.asynccontextmanager
async def postgres_adapters(config: HallConfig, dsn: str) -> AsyncIterator[PostgresAdapters]:
    """Migrate ``dsn``, open the pool and the live feed, and yield the stores over them."""
    applied = await apply_migrations(dsn)
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    # The pages' live feed listens on its own connection (LISTEN holds it for good).
    async with PostgresStore.connect(
        dsn, min_size=config.database.pool_min, max_size=config.database.pool_max,
        retention_days=config.database.telemetry_retention_days,
    ) as fleet, PostgresLiveFeed(dsn) as live:
        pool = fleet.pool
        yield PostgresAdapters(
            fleet=fleet, tickets=PostgresTicketStore(pool), moves=PostgresTicketMoves(pool),
            remote=PostgresRemoteTickets(pool), stats=PostgresStatsStore(pool),
            cases=PostgresCaseStore(pool), ticket_cases=PostgresTicketCases(pool),
            access=PostgresAccessStore(pool), users=PostgresUserStore(pool),
            provisioning=PostgresProvisioningStore(pool), kiosk_keys=PostgresKioskKeys(pool),
            notify=PostgresNotifyStore(pool), alarm_rules=PostgresAlarmRuleStore(pool),
            sign_on=PostgresSignOnStore(pool), live=live)


def hall_features(config: HallConfig, adapters: PostgresAdapters, mqtt_url: str) -> list[Feature]:
    """Every feature of the hall, in install order: device identity first (access signs with
    its keys), cases before the queue (tickets link to cases), tickets before what builds on
    them."""
    queue = queue_settings(config.queue)
    a = adapters
    notify = [notify_feature(config.notify, a.notify, timezone=config.queue.timezone,
                             auth_secret=auth_secret(config))] if config.notify.enabled else []
    sign_on = sign_on_feature(config, a)
    return [*([] if sign_on is None else [sign_on]),
        DeviceIdentityFeature(a.provisioning, config.devices.auto_register,
                              broker_url=config.devices.broker_url or mqtt_url),
        CasesFeature(a.cases, DestinationPolicy.allowing(config.integration.webhook_allow)),
        TicketsFeature(a.tickets, queue, wait_inputs=a.stats, ticket_cases=a.ticket_cases,
                       kiosk_keys=a.kiosk_keys),
        RemoteTicketsFeature(a.tickets, a.moves, a.remote, ticket_cases=a.ticket_cases),
        WindowsFeature(a.tickets, a.moves, clerk_settings(config.queue)),
        StatsFeature(a.stats, config.queue.timezone, queue),
        AccessFeature(a.access, command_secret(config), config.queue.timezone),
        FaceCheckInFeature(tuple(config.access.checkin_gates), a.tickets, a.access,
                           remote=a.remote),
        *notify,
        AlarmRulesFeature(a.alarm_rules, a.alarm_rules, config.queue.timezone),
    ]


def sign_on_feature(config: HallConfig, adapters: PostgresAdapters) -> Feature | None:
    """Campus sign-on when ``[sign_on.oidc]`` names a provider (docs/sign-on.md)."""
    from hall_controller.features import SignOnFeature
    from hall_controller.sign_on.http_provider import HttpxProvider

    sign_on = config.sign_on
    if not sign_on.enabled:
        return None
    base = sign_on.base_url(config.http.host, config.http.port)
    oidc = None if sign_on.oidc.issuer is None else OidcSettings(
        checks=sign_on.token_checks(), client_secret=sign_on.oidc.client_secret,
        redirect_uri=f"{base}/api/v1/sign-on/oidc/callback",
        post_logout_redirect_uri=f"{base}/pages/",
        scopes=tuple(sign_on.oidc.scopes), use_userinfo=sign_on.oidc.use_userinfo,
        jwks_refetch_interval_s=sign_on.oidc.jwks_refetch_interval_s)
    cas = None if sign_on.cas.server_url is None else CasSettings(
        server_url=sign_on.cas.server_url, callback_url=f"{base}/api/v1/sign-on/cas/callback",
        post_logout_url=f"{base}/pages/")
    return SignOnFeature(
        adapters.sign_on, sign_on.claim_mapping(),
        SessionSettings(ttl_s=sign_on.session_ttl_s, secret=auth_secret(config),
                        cookie_secure=sign_on.cookie_secure),
        oidc, HttpxProvider(verify=sign_on.oidc.ca_file or True), local_users=adapters.users,
        cas=cas)


def controller_bus(settings: ControllerSettings) -> MqttBus:
    """The controller's broker connection, as the settings describe it."""
    from devices.contract import Topics

    return MqttBus(settings.mqtt_url, Topics(settings.topic_prefix),
                   client_id=settings.client_id, shared_group=settings.shared_group,
                   keepalive_s=settings.keepalive_s)


@dataclass(frozen=True, slots=True)
class Hall:
    """The assembled hall: its stores, the controller (not yet running) and the HTTP API."""

    adapters: PostgresAdapters
    controller: HallController
    app: FastAPI
    # True when ``admin_password`` created the first admin (or restored one to a hall that
    # had no enabled admin); False when an existing admin kept their password.
    admin_created: bool = False


@contextlib.asynccontextmanager
async def assemble(config: HallConfig, mqtt_url: str, dsn: str, *,
                   admin_password: str | None = None) -> AsyncIterator[Hall]:
    """The whole hall over the broker at ``mqtt_url`` and the database at ``dsn``; the
    caller runs ``hall.controller.running()`` and serves ``hall.app``. ``admin_password``
    creates the ``admin`` user when the hall has no enabled admin, and is ignored (logged)
    otherwise: an existing admin's password is never reset."""
    from api import create_app
    from api.auth import Authenticator
    from hall_controller.users.accounts import ensure_first_admin
    from hall_controller.users.service import AuthSettings

    settings = controller_settings(config, mqtt_url)
    async with postgres_adapters(config, dsn) as adapters:
        admin_created = (admin_password is not None
                         and await ensure_first_admin(adapters.users, admin_password))
        controller = HallController(settings, adapters.fleet, controller_bus(settings),
                                    hall_features(config, adapters, mqtt_url))
        services = controller.services
        services.add(adapters.live.hub)
        # Lockouts are raised as alarms: create_app hands the authenticator the AlarmService.
        authenticator = Authenticator(AuthSettings(secret=auth_secret(config),
                                                   token_ttl_s=config.auth.token_ttl_s),
                                      adapters.users, throttle=throttle_policy(config.auth.login),
                                      hash_slots=hash_slots(config.auth.login))
        authenticator.local_login_admins_only = config.sign_on.local_login == "admins"
        services.add(authenticator)
        http = config.http
        app = create_app(services, max_body_bytes=http.max_body_bytes,
                         max_upload_bytes=http.max_upload_bytes,
                         body_timeout_s=http.body_timeout_s, hsts=http.hsts)
        yield Hall(adapters, controller, app, admin_created)
