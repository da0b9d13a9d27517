"""The broker and the database the hall runs on: the configured ones, or embedded ones (an
amqtt broker, a PostgreSQL from the pgserver wheel) for as long as the context lives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hall.amqtt_auth import BrokerAccounts
from hall.config import HallConfig
from hall.embedded_broker import running_broker
from hall.settings import controller_broker_password
from hall.tls import broker_hosts, ensure_broker_certificates
from hall_controller.fleet.provisioning import DeviceCredential, ProvisioningService
from hall_controller.kernel.postgres.embedded import embedded_postgres

logger = logging.getLogger(__name__)


@dataclass
class BrokerEndpoint:
    """Where the hall's broker is: ``url`` for the controller (its login included when the
    hall runs the broker), ``device_url`` without anyone's login (for bundles, the demo's
    devices and the console)."""

    url: str
    device_url: str
    accounts: BrokerAccounts | None = None
    broker: Any = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def attach(self, provisioning: ProvisioningService, store: Any) -> None:
        """Logins check the provisioned devices in ``store``; a device revoked or re-keyed
        through ``provisioning`` (this process: the API) is disconnected at once."""
        if self.accounts is None:
            return
        self.accounts.lookup = store.get_credential
        provisioning.subscribe(self._changed)

    def _changed(self, credential: DeviceCredential) -> None:
        assert self.accounts is not None
        self.accounts.forget(credential.device_id)
        if credential.active and credential.rotated_ms is None:
            return  # newly provisioned: nobody to disconnect
        task = asyncio.get_running_loop().create_task(
            self.broker.disconnect_client(credential.device_id),
            name=f"disconnect-{credential.device_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@contextlib.asynccontextmanager
async def hall_broker(config: HallConfig) -> AsyncIterator[BrokerEndpoint]:
    """The configured broker (its URL with the ``mqtt.tls_*`` files), or an embedded amqtt
    broker with logins and the device ACL (the controller's account: ``mqtt.client_id`` with a
    password kept in the data dir), TLS-only with the hall's own CA unless
    ``mqtt.embedded.tls`` is off."""
    if config.mqtt.url:
        yield BrokerEndpoint(config.mqtt.client_url, _without_login(config.mqtt.client_url))
        return
    user = config.mqtt.client_id
    password = controller_broker_password(config)
    accounts = BrokerAccounts(user, password, config.mqtt.topic_prefix)
    embedded = config.mqtt.embedded
    tls = None
    if embedded.tls:
        data_dir = Path(os.path.abspath(config.data_dir))  # noqa: ASYNC240 - string work only
        tls = await asyncio.to_thread(ensure_broker_certificates, data_dir,
                                      broker_hosts(embedded.host))
    async with running_broker(embedded.host, embedded.port, accounts, tls) as broker:
        device_url: str = broker.url
        scheme, sep, rest = device_url.partition("://")
        yield BrokerEndpoint(f"{scheme}{sep}{user}:{password}@{rest}", device_url, accounts,
                             broker)


@contextlib.asynccontextmanager
async def broker_url(config: HallConfig) -> AsyncIterator[str]:
    """``hall_broker``'s URL for the controller."""
    async with hall_broker(config) as endpoint:
        yield endpoint.url


def _without_login(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


@contextlib.asynccontextmanager
async def database_url(config: HallConfig) -> AsyncIterator[str]:
    """The configured PostgreSQL, or an embedded one in ``data_dir/pg`` (kept between runs)."""
    if config.database.url:
        yield config.database.url
        return
    async with embedded_postgres(config.data_dir) as dsn:
        yield dsn
