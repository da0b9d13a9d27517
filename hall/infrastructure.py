"""The broker and the database the hall runs on: the configured ones, or embedded ones (an
amqtt broker, a PostgreSQL from the pgserver wheel) for as long as the context lives."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from hall.config import HallConfig
from hall.embedded_broker import embedded_broker
from hall.tls import broker_hosts, ensure_broker_certificates
from hall_controller.kernel.postgres.embedded import embedded_postgres


@contextlib.asynccontextmanager
async def broker_url(config: HallConfig) -> AsyncIterator[str]:
    """The configured broker (its URL with the mqtt.tls_* files), or an embedded amqtt broker
    for as long as the context lives: TLS-only with the hall's own CA unless
    mqtt.embedded.tls is off."""
    if config.mqtt.url:
        yield config.mqtt.client_url
        return
    embedded = config.mqtt.embedded
    tls = None
    if embedded.tls:
        data_dir = Path(os.path.abspath(config.data_dir))  # noqa: ASYNC240 - string work only
        tls = await asyncio.to_thread(ensure_broker_certificates, data_dir,
                                      broker_hosts(embedded.host))
    async with embedded_broker(embedded.host, embedded.port, tls) as url:
        yield url


@contextlib.asynccontextmanager
async def database_url(config: HallConfig) -> AsyncIterator[str]:
    """The configured PostgreSQL, or an embedded one in ``data_dir/pg`` (kept between runs)."""
    if config.database.url:
        yield config.database.url
        return
    async with embedded_postgres(config.data_dir) as dsn:
        yield dsn
