"""Logins and the per-device ACL of the embedded amqtt broker.

With ``BrokerAccounts`` (what ``hall demo`` and ``hall controller`` without ``mqtt.url`` run):
every client logs in. The controller has its own account (a password generated into the data
dir); a device logs in as its device id with the password provisioning gave it, checked
against the stored hash (``fleet/provisioning.py``; looked up in the database through a
small cache, so a revocation made elsewhere holds from the next connect and, after
``cache_ttl_s``, the next publish). The client id must be the username: nobody can take over
another's client id (amqtt has no ``use_username_as_clientid``). A device publishes only on
its own topics and subscribes only to its own ``cmd`` and ``res`` and to
``controller/state``, and its last will may only be its own ``state``.

Without accounts (``python -m hall.embedded_broker``, the tests' stand-alone broker) anyone
may connect, as before. amqtt quirk kept in mind either way: amqtt forgets a persistent
session (and the QoS 1 messages queued for it) as soon as an *anonymous* client disconnects,
and its stock plugin marks every client anonymous when anonymous access is allowed. The
controller relies on its persistent session, so a client that gives a username is never
anonymous here.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from hall_controller.fleet.provisioning import DeviceCredential, verify_mqtt_password

logger = logging.getLogger(__name__)

CredentialLookup = Callable[[str], Awaitable[DeviceCredential | None]]
DEVICE_PUBLISHES = ("state", "telemetry", "event", "req", "cmd/ack")
DEVICE_SUBSCRIBES = ("cmd", "res")


class BrokerAccounts:
    """Who may log in to the embedded broker, and what each may publish and subscribe to.

    ``lookup`` (the provisioning store's ``get_credential``) is set once the database is up;
    until then only the controller gets in (devices retry)."""

    def __init__(self, controller_user: str, controller_password: str, topic_prefix: str, *,
                 cache_ttl_s: float = 2.0) -> None:
        self.controller_user = controller_user
        self._controller_password = controller_password
        self.prefix = topic_prefix
        self.lookup: CredentialLookup | None = None
        self._cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, DeviceCredential | None]] = {}
        self._verified: dict[tuple[str, str], bool] = {}  # (hash, password) → matches

    def forget(self, device_id: str) -> None:
        """A credential changed in this process: look it up afresh."""
        self._cache.pop(device_id, None)

    async def credential(self, device_id: str, *, fresh: bool = False) -> DeviceCredential | None:
        """The device's stored credential; through the cache unless ``fresh`` (a login: a
        revocation made by another process must hold from the next connect)."""
        now = time.monotonic()
        cached = self._cache.get(device_id)
        if not fresh and cached is not None and now - cached[0] <= self._cache_ttl_s:
            return cached[1]
        if self.lookup is None:
            return None
        try:
            credential = await self.lookup(device_id)
        except Exception:
            logger.warning("credentials of %s not looked up; refusing it for now", device_id,
                           exc_info=True)
            return None
        self._cache[device_id] = (now, credential)
        if len(self._cache) > 10_000:
            self._cache = {d: c for d, c in self._cache.items() if now - c[0] <= self._cache_ttl_s}
        return credential

    async def login(self, username: str | None, password: str | None,
                    client_id: str | None) -> bool:
        if not username or password is None or client_id != username:
            return False
        if username == self.controller_user:
            return hmac.compare_digest(password.encode(), self._controller_password.encode())
        credential = await self.credential(username, fresh=True)
        if credential is None or not credential.active:
            return False
        key = (credential.password_hash, password)
        if key not in self._verified:
            # PBKDF2 takes milliseconds: off the event loop, and remembered (a reconnect storm
            # must not re-hash; a re-key changes the hash, so old entries never match again).
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[key] = await asyncio.to_thread(
                verify_mqtt_password, password, credential.password_hash)
        return self._verified[key]

    def own_topics(self, device_id: str) -> tuple[frozenset[str], frozenset[str]]:
        """What a device may publish to, and what it may subscribe to (and receive)."""
        own = f"{self.prefix}/dev/{device_id}"
        publishes = frozenset(f"{own}/{channel}" for channel in DEVICE_PUBLISHES)
        reads = frozenset([*(f"{own}/{channel}" for channel in DEVICE_SUBSCRIBES),
                           f"{self.prefix}/controller/state"])
        return publishes, reads

    async def allowed(self, username: str | None, topic: str, action: Action) -> bool:
        if not username:
            return False
        if username == self.controller_user:
            return True
        publishes, reads = self.own_topics(username)
        if action == Action.PUBLISH:
            # Checked again on every publish, through the cache: a device revoked elsewhere
            # stops being heard within ``cache_ttl_s`` even if it stays connected.
            credential = await self.credential(username)
            return topic in publishes and credential is not None and credential.active
        return topic in reads  # SUBSCRIBE (a filter: wildcards match nothing here), RECEIVE


class _HallPlugin:
    """What the two plugins share: the accounts the broker hands them after loading."""

    accounts: BrokerAccounts | None = None


class NamedClientsKeepSessions(BaseAuthPlugin):  # type: ignore[misc]
    """The open broker: anyone gets in; a client with a username keeps its session."""

    async def authenticate(self, *, session: Session) -> bool:
        session.is_anonymous = not session.username
        return True

    @dataclass
    class Config:
        """No options."""


class ProvisionedLogins(_HallPlugin, BaseAuthPlugin):  # type: ignore[misc]
    """Logins against ``BrokerAccounts``; no accounts set yet refuses everyone."""

    async def authenticate(self, *, session: Session) -> bool:
        accounts = self.accounts
        if accounts is None:
            return False
        if not await accounts.login(session.username, session.password, session.client_id):
            logger.warning("broker login refused: user %r, client id %r",
                           (session.username or "")[:64], (session.client_id or "")[:64])
            return False
        if session.will_flag and not await accounts.allowed(
                session.username, session.will_topic or "", Action.PUBLISH):
            logger.warning("broker login refused: %s's last will names %r", session.username,
                           (session.will_topic or "")[:200])
            return False
        session.is_anonymous = False
        return True

    @dataclass
    class Config:
        """No options: the accounts are set on the plugin by ``embedded_broker``."""


class ProvisionedTopics(_HallPlugin, BaseTopicPlugin):  # type: ignore[misc]
    """The per-device ACL."""

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool:
        accounts = self.accounts
        if accounts is None or session is None or topic is None or action is None:
            return False
        permitted = await accounts.allowed(session.username, topic, action)
        if not permitted and action != Action.RECEIVE:
            logger.warning("broker refused %s %s on %r", session.username, action.value,
                           topic[:200])
        return permitted

    @dataclass
    class Config:
        """No options."""


def set_accounts(plugins: Any, accounts: BrokerAccounts) -> None:
    """Hand ``accounts`` to the loaded plugins (amqtt builds them from their names)."""
    for name in ("ProvisionedLogins", "ProvisionedTopics"):
        plugin = plugins.get_plugin(name)
        if plugin is None:
            raise RuntimeError(f"amqtt did not load the {name} plugin")
        plugin.accounts = accounts
