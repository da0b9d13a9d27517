"""The broker and the database the hall runs on: the configured ones, or embedded ones (an
amqtt broker, a PostgreSQL from the pgserver wheel) for as long as the context lives."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from hall.config import HallConfig
from hall.embedded_broker import embedded_broker
from hall_controller.kernel.postgres.embedded import embedded_postgres


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
