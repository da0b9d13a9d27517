"""The embedded amqtt broker for the one-box demo and the embedded test run.

amqtt speaks MQTT 3.1.1 only and has no shared subscriptions: fine for one box, not for
production (use Mosquitto or EMQX there, see docs/deployment.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

from devices.broker_address import with_tls_files
from hall.tls import BrokerCertificates

logger = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _broker_config(host: str, port: int, tls: BrokerCertificates | None = None) -> dict[str, Any]:
    listener: dict[str, Any] = {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}
    if tls is not None:
        # TLS only on this port: a plain client fails its handshake, nothing falls back.
        listener.update(ssl=True, certfile=str(tls.cert_file), keyfile=str(tls.key_file),
                        cafile=str(tls.ca_file))
    return {
        "listeners": {"default": listener},
        "sys_interval": 0,
        "plugins": {"hall.amqtt_auth.NamedClientsKeepSessions": {}},
    }


class _SnapshotDict(dict[str, Any]):
    """Iterates over a snapshot of its keys, so awaiting inside a loop over it is safe."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.keys()))


def _hall_broker_class() -> type[Any]:
    from amqtt.broker import Broker  # imported late: only the embedded mode needs amqtt

    class HallBroker(Broker):  # type: ignore[misc]
        """amqtt 0.12.1 with two fixes the demo needs.

        On connect, amqtt walks *every* subscription in the broker and sends the new client the
        retained messages for all of them — other clients' topics included — and that walk
        awaits while the dict can change ("dictionary changed size during iteration" when many
        devices connect at once). Here the walk runs over a snapshot and only the connecting
        client's own subscriptions get their retained messages.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._subscriptions = _SnapshotDict()

        async def _publish_retained_messages_for_subscription(
                self, subscription: tuple[str, int], session: Any) -> None:
            subscribers = self._subscriptions.get(subscription[0], [])
            if any(s.client_id == session.client_id for s, _ in subscribers):
                await super()._publish_retained_messages_for_subscription(subscription, session)

    return HallBroker


@contextlib.asynccontextmanager
async def embedded_broker(host: str = "127.0.0.1", port: int = 0,
                          tls: BrokerCertificates | None = None) -> AsyncIterator[str]:
    """Run amqtt in this event loop; yields its URL. Port 0 picks a free port.

    With ``tls`` the one listener is TLS-only and the URL is ``mqtts://...?ca=CA_FILE``: the
    certificate must name ``host`` (hall.tls generates one for 127.0.0.1 and localhost)."""
    port = port or free_port(host)
    # amqtt logs every connection at INFO; the demo's console is for the hall, not the broker.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = _hall_broker_class()(_broker_config(host, port, tls))
    await broker.start()
    scheme = "mqtts" if tls is not None else "mqtt"
    logger.info("embedded MQTT broker listening on %s://%s:%d", scheme, host, port)
    url = f"{scheme}://{host}:{port}"
    try:
        yield url if tls is None else with_tls_files(url, ca_file=str(tls.ca_file))
    finally:
        await broker.shutdown()


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
