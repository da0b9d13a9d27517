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
from collections.abc import AsyncIterator
from typing import Any

logger = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _broker_config(host: str, port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "sys_interval": 0,
        "plugins": {"hall.amqtt_auth.NamedClientsKeepSessions": {}},
    }


@contextlib.asynccontextmanager
async def embedded_broker(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Run amqtt in this event loop; yields its mqtt:// URL. Port 0 picks a free port."""
    from amqtt.broker import Broker  # imported late: only the embedded mode needs it

    port = port or free_port(host)
    # amqtt logs every connection at INFO; the demo's console is for the hall, not the broker.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = Broker(_broker_config(host, port))
    await broker.start()
    logger.info("embedded MQTT broker listening on %s:%d", host, port)
    try:
        yield f"mqtt://{host}:{port}"
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
