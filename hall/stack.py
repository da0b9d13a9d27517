"""Resolving the configured (or embedded) broker and database into running services.

This is the composition root's lower half: the only place that decides "embedded or external"
and builds adapters. ``hall.cli`` calls it for every subcommand.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from hall.config import HallConfig, QueueConfig
from hall.embedded_broker import embedded_broker
from hall_controller.adapters.postgres.embedded import embedded_postgres
from hall_controller.adapters.postgres.migrate import apply_migrations
from hall_controller.adapters.postgres.ticket_store import PostgresHallStore
from hall_controller.domain.queue_model import ServiceDef
from hall_controller.runtime import ControllerSettings
from hall_controller.services.tickets import OpeningHours, QueueSettings

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


def queue_settings(queue: QueueConfig) -> QueueSettings:
    return QueueSettings(
        services=tuple(
            ServiceDef(code=s.code, name=s.name, prefix=s.prefix, first_number=s.first_number,
                       last_number=s.last_number, daily_cap=s.daily_cap,
                       target_wait_s=s.target_wait_min * 60)
            for s in queue.services),
        timezone=queue.timezone,
        opening_hours=None if queue.always_open else OpeningHours(
            queue.opens, queue.closes, frozenset(queue.open_days)),
        default_service_s=queue.default_service_s,
    )


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
    )


def auth_secret(config: HallConfig) -> str:
    """The token signing key: configured, or generated once and kept in the data dir so tokens
    survive a restart."""
    if config.auth.secret:
        return config.auth.secret
    path = Path(config.data_dir) / "auth-secret"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret, encoding="utf-8")
    path.chmod(0o600)
    return secret
