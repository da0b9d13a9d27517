"""Resolving the configured (or embedded) broker and database into running services.

This is the composition root's lower half: the only place that decides "embedded or external"
and builds adapters. ``hall.cli`` calls it for every subcommand.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from hall.config import HallConfig, QueueConfig
from hall.embedded_broker import embedded_broker
from hall_controller.cases.integration_keys import ApiKeyService
from hall_controller.cases.postgres_store import PostgresCaseStore
from hall_controller.cases.service import CaseService
from hall_controller.cases.webhooks import WebhookDispatcher, WebhookService
from hall_controller.kernel.postgres.embedded import embedded_postgres
from hall_controller.kernel.postgres.migrate import apply_migrations
from hall_controller.queue.model import ServiceDef, WindowDef
from hall_controller.queue.postgres_tickets import PostgresHallStore
from hall_controller.queue.tickets import OpeningHours, QueueSettings
from hall_controller.runtime import ControllerSettings

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def broker_url(config: HallConfig) -> AsyncIterator[str]:
    """The configured broker, or an embedded amqtt broker for as long as the context lives."""
    if config.mqtt.url:
        yield config.mqtt.url
        return
    async with embedded_broker(config.mqtt.embedded.host, config.mqtt.embedded.port) as url:
        yield url


@contextlib.asynccontextmanager
async def database_url(config: HallConfig) -> AsyncIterator[str]:
    """The configured PostgreSQL, or an embedded one in ``data_dir/pg`` (kept between runs)."""
    if config.database.url:
        yield config.database.url
        return
    async with embedded_postgres(config.data_dir) as dsn:
        yield dsn


@contextlib.asynccontextmanager
async def migrated_store(config: HallConfig, dsn: str) -> AsyncIterator[PostgresHallStore]:
    """Every store port, tickets included, over one pool (the controller finds the ticket
    port on it)."""
    applied = await apply_migrations(dsn)
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    async with PostgresHallStore.connect(
        dsn, min_size=config.database.pool_min, max_size=config.database.pool_max,
        retention_days=config.database.telemetry_retention_days,
    ) as store:
        assert isinstance(store, PostgresHallStore)  # connect() builds cls
        yield store


@dataclass(frozen=True, slots=True)
class IntegrationServices:
    """The online-case services."""

    cases: CaseService
    webhooks: WebhookService
    api_keys: ApiKeyService


def integration_services(store: PostgresHallStore) -> tuple[IntegrationServices,
                                                             WebhookDispatcher]:
    """The online-case services over the store's own pool (one pool per process, so the
    configured pool size is the whole budget), and the webhook dispatcher, woken whenever case
    events are appended. The caller runs ``dispatcher.run()`` as an owned task."""
    case_store = PostgresCaseStore(store.pool)
    cases = CaseService(case_store)
    dispatcher = WebhookDispatcher(case_store)
    # Prompt delivery: without the wake-up an event would wait for the next poll (2 s).
    cases.subscribe(lambda events: dispatcher.wake())
    context = IntegrationServices(cases=cases, webhooks=WebhookService(case_store),
                                  api_keys=ApiKeyService(case_store))
    return context, dispatcher


def queue_settings(queue: QueueConfig) -> QueueSettings:
    return QueueSettings(
        services=tuple(
            ServiceDef(code=s.code, name=s.name, prefix=s.prefix, first_number=s.first_number,
                       last_number=s.last_number, daily_cap=s.daily_cap,
                       target_wait_s=s.target_wait_min * 60, name_en=s.name_en)
            for s in queue.services),
        timezone=queue.timezone,
        opening_hours=None if queue.always_open else OpeningHours(
            queue.opens, queue.closes, frozenset(queue.open_days)),
        default_service_s=queue.default_service_s,
        windows=configured_windows(queue),
    )


def configured_windows(queue: QueueConfig) -> tuple[WindowDef, ...]:
    """``[[queue.windows]]`` as the wait estimate needs them, read defensively: the section
    comes with the clerk side. Absent or unreadable: no windows, and the estimate assumes one
    window per service (``QueueSettings.estimate_windows``) and says so at start."""
    entries = getattr(queue, "windows", None)
    if not entries:
        return ()
    windows: list[WindowDef] = []
    try:
        for n, entry in enumerate(entries, start=1):
            window_id = getattr(entry, "window_id", None) or getattr(entry, "id", None)
            services = getattr(entry, "services", None)
            # Weights (skills routing) when given as a table, else every service weighs 1.
            weights = (dict(services) if isinstance(services, dict)
                       else dict.fromkeys(services or (), 1))
            weights = {str(code): int(weight) for code, weight in weights.items()}
            if window_id is None or not weights:
                raise ValueError(f"window #{n}: no id or no services")
            windows.append(WindowDef(window_id=str(window_id),
                                     number=int(getattr(entry, "number", n)),
                                     services=weights,
                                     area=str(getattr(entry, "area", "main-hall"))))
    except (TypeError, ValueError) as exc:
        logger.warning("queue.windows not understood for the wait estimate (%s); assuming one "
                       "window per service", exc)
        return ()
    return tuple(windows)


def controller_settings(config: HallConfig, mqtt_url: str) -> ControllerSettings:
    c = config.controller
    return ControllerSettings(
        mqtt_url=mqtt_url, topic_prefix=config.mqtt.topic_prefix, client_id=config.mqtt.client_id,
        shared_group=config.mqtt.shared_group, keepalive_s=config.mqtt.keepalive_s,
        queue_size=c.queue_size, batch_max=c.batch_max, max_payload_bytes=c.max_payload_bytes,
        command_timeout_s=c.command_timeout_s, command_ttl_s=c.command_ttl_s,
        presence_check_interval_s=c.presence_check_interval_s,
        inactivity_timeout_s=dict(c.inactivity_timeout_s),
        telemetry_retention_days=config.database.telemetry_retention_days,
        queue=queue_settings(config.queue),
        checkin_gates=tuple(config.access.checkin_gates),
    )


def auth_secret(config: HallConfig) -> str:
    """The token signing key: configured, or generated once and kept in the data dir so tokens
    survive a restart."""
    return _secret(config, config.auth.secret, "auth-secret")


def command_secret(config: HallConfig) -> bytes:
    """The master secret door-command keys are derived from: configured, or generated once
    and kept in the data dir (the simulated locks of the demo derive theirs from it too)."""
    return _secret(config, config.access.command_secret, "command-secret").encode()


def _secret(config: HallConfig, configured: str, filename: str) -> str:
    if configured:
        return configured
    path = Path(config.data_dir) / filename
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret, encoding="utf-8")
    path.chmod(0o600)
    return secret
