"""A Mosquitto of the test's own that logs every packet, so a test can see what the controller
acknowledged: the broker's own account, not the controller's.

Mosquitto writes (and flushes) one log line per packet, in the order it handles them, and it
handles one client's packets in the order they were sent. So once a marker the controller
published is in the log, every PUBACK the controller sent before it is there too.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable

from tests.support.kiosks import SHIPPED_DELIVERY_OPTIONS
from tests.support.private_mosquitto import PrivateMosquitto
from tests.support.waiting import eventually


class LoggingMosquitto(PrivateMosquitto):
    """Mosquitto with the shipped delivery options, logging every packet to a file."""

    def __init__(self) -> None:
        super().__init__("hall-test-mqtt-")
        self.url = f"mqtt://127.0.0.1:{self.port}"
        # Run as root, Mosquitto drops to its own user before it opens the log.
        os.chmod(self._dir, 0o777)  # a throwaway folder of this test's broker

    def config(self) -> str:
        return (f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                f"log_dest file {self.log}\nlog_type all\n{SHIPPED_DELIVERY_OPTIONS}")

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8", errors="replace").splitlines()

    def pubacks_from(self, client_id: str, lines: list[str] | None = None) -> int:
        """How many PUBACKs the client sent (each acknowledges one QoS 1 message)."""
        return sum(f"Received PUBACK from {client_id} " in line
                   for line in (self.lines() if lines is None else lines))

    def publishes_to(self, client_id: str, *, redelivered: bool | None = None,
                     lines: list[str] | None = None) -> int:
        """How many messages the broker sent the client (only redeliveries, DUP set, when
        ``redelivered``)."""
        head = f"Sending PUBLISH to {client_id} ("
        flag = {None: "", True: "d1", False: "d0"}[redelivered]
        return sum(line.split(": ", 1)[-1].startswith(head + flag)
                   for line in (self.lines() if lines is None else lines))

    async def lines_up_to_marker(self, client_id: str,
                                 publish: Callable[[str, bytes], Awaitable[None]]) -> list[str]:
        """The log up to a marker published on the client's own connection (``publish`` waits
        for the broker's PUBACK): everything the client sent before it is in these lines."""
        marker = f"probe/{uuid.uuid4().hex}"  # outside every test prefix: nobody hears it
        await publish(marker, b"marker")
        needle = f"Received PUBLISH from {client_id} "

        def logged() -> list[str] | None:
            lines = self.lines()
            for i, line in enumerate(lines):
                if needle in line and f"'{marker}'" in line:
                    return lines[:i]
            return None
        return await eventually(logged, timeout_s=10, what="the marker in the broker's log")
