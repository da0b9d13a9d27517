"""The embedded amqtt broker for the one-box demo and the embedded test run.

amqtt speaks MQTT 3.1.1 only and has no shared subscriptions: fine for one box, not for
production (use Mosquitto or EMQX there, see docs/deployment.md). Given ``BrokerAccounts``
it authenticates every client and enforces the per-device ACL (``hall.amqtt_auth``);
without, it is open (the tests' stand-alone broker).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from devices.broker_address import with_tls_files
from hall.tls import BrokerCertificates

if TYPE_CHECKING:
    from hall.amqtt_auth import BrokerAccounts

logger = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _broker_config(host: str, port: int, *, authenticated: bool,
                   tls: BrokerCertificates | None = None) -> dict[str, Any]:
    plugins: dict[str, Any] = (
        {"hall.amqtt_auth.ProvisionedLogins": {}, "hall.amqtt_auth.ProvisionedTopics": {}}
        if authenticated else {"hall.amqtt_auth.NamedClientsKeepSessions": {}})
    listener: dict[str, Any] = {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}
    if tls is not None:
        # TLS only on this port: a plain client fails its handshake, nothing falls back.
        listener.update(ssl=True, certfile=str(tls.cert_file), keyfile=str(tls.key_file),
                        cafile=str(tls.ca_file))
    return {
        "listeners": {"default": listener},
        "sys_interval": 0,
        "plugins": plugins,
    }


class _SnapshotDict(dict[str, Any]):
    """Iterates over a snapshot of its keys, so awaiting inside a loop over it is safe."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.keys()))

    # amqtt's broadcast walks ``items()`` and awaits the topic check (an ACL lookup) inside
    # the loop: a client subscribing meanwhile broke it ("dictionary changed size").
    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return list(super().items())

    def values(self) -> list[Any]:  # type: ignore[override]
        return list(super().values())


def _hall_broker_class() -> type[Any]:
    # Imported late: only the embedded mode needs amqtt.
    from amqtt.broker import Broker
    from amqtt.errors import AMQTTError, MQTTError, NoDataError
    from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
    from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
    from amqtt.utils import gen_client_id

    class HallBroker(Broker):  # type: ignore[misc]
        """amqtt 0.12.1 with the fixes the demo needs.

        amqtt looks at a CONNECT's client id before it authenticates the client: a client
        with a wrong password (or none) but the controller's client id deleted the
        controller's subscriptions (clean session) or took its session over, will and
        password included. Here the CONNECT is authenticated first, and a refused client
        never touches an existing session.

        On connect, amqtt walks *every* subscription in the broker and sends the new client the
        retained messages for all of them — other clients' topics included — and that walk
        awaits while the dict can change ("dictionary changed size during iteration" when many
        devices connect at once). Here the walk runs over a snapshot and only the connecting
        client's own subscriptions get their retained messages.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._subscriptions = _SnapshotDict()

        async def _initialize_client_session(self, reader: Any, writer: Any, remote_address: str,
                                             remote_port: int) -> tuple[Any, Any]:
            # amqtt 0.12.1's own, with the CONNECT authenticated before any session is looked up.
            try:
                handler, session = await BrokerProtocolHandler.init_from_connect(
                    reader, writer, self.plugins_manager)
            except (AMQTTError, NoDataError) as exc:
                raise AMQTTError(exc) from exc
            except MQTTError:
                await writer.close()
                raise
            if self.plugins_manager._auth_plugins and not await self._authenticate(session, None):
                await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
                await writer.close()
                raise MQTTError(f"client {str(session.client_id)[:64]!r} not authorized")
            if session.clean_session:
                if session.client_id:
                    await self._delete_session(session.client_id)
                else:
                    session.client_id = gen_client_id()
                session.parent = 0
            elif session.client_id in self._sessions:
                existing, _ = self._sessions[session.client_id]
                for name in ("will_flag", "will_message", "will_topic", "will_qos", "keep_alive",
                             "username", "password"):
                    setattr(existing, name, getattr(session, name))
                session = existing
                session.parent = 1
            else:
                session.parent = 0
            delay = self.config.get("timeout-disconnect-delay", 0)
            if session.keep_alive > 0 and isinstance(delay, int):
                session.keep_alive += delay
            return handler, session

        async def disconnect_client(self, client_id: str) -> bool:
            """Close a client's connection and drop its session (a revoked device)."""
            entry = self._sessions.get(client_id)
            if entry is None:
                return False
            session, handler = entry
            if session.transitions.is_connected():
                await handler.handle_connection_closed()
                await handler.stop()
            await self._delete_session(client_id)
            return True

        async def _publish_retained_messages_for_subscription(
                self, subscription: tuple[str, int], session: Any) -> None:
            subscribers = self._subscriptions.get(subscription[0], [])
            if any(s.client_id == session.client_id for s, _ in subscribers):
                await super()._publish_retained_messages_for_subscription(subscription, session)

    return HallBroker


@contextlib.asynccontextmanager
async def running_broker(host: str = "127.0.0.1", port: int = 0,
                         accounts: BrokerAccounts | None = None,
                         tls: BrokerCertificates | None = None) -> AsyncIterator[Any]:
    """Run amqtt in this event loop; yields the broker (``url`` set on it). Port 0 picks a
    free port. With ``accounts`` every client logs in and the device ACL holds. With ``tls``
    the one listener is TLS-only and the URL is ``mqtts://...?ca=CA_FILE``: the certificate
    must name ``host`` (hall.tls generates one for 127.0.0.1 and localhost)."""
    from hall.amqtt_auth import set_accounts

    port = port or free_port(host)
    # amqtt logs every connection at INFO; the demo's console is for the hall, not the broker.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = _hall_broker_class()(_broker_config(host, port, authenticated=accounts is not None,
                                                 tls=tls))
    if accounts is not None:
        set_accounts(broker.plugins_manager, accounts)
    await broker.start()
    scheme = "mqtts" if tls is not None else "mqtt"
    logger.info("embedded MQTT broker listening on %s://%s:%d (%s)", scheme, host, port,
                "logins and device ACL on" if accounts else "open: no logins")
    url = f"{scheme}://{host}:{port}"
    broker.url = url if tls is None else with_tls_files(url, ca_file=str(tls.ca_file))
    try:
        yield broker
    finally:
        await broker.shutdown()


@contextlib.asynccontextmanager
async def embedded_broker(host: str = "127.0.0.1", port: int = 0,
                          accounts: BrokerAccounts | None = None,
                          tls: BrokerCertificates | None = None) -> AsyncIterator[str]:
    """``running_broker``, yielding its URL."""
    async with running_broker(host, port, accounts, tls) as broker:
        yield broker.url


async def _serve(host: str, port: int) -> None:
    async with embedded_broker(host, port) as url:
        print(url, flush=True)
        await asyncio.Event().wait()


def main() -> None:
    """``python -m hall.embedded_broker --port N``: a stand-alone broker (tests stop and start it)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
