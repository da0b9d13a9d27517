"""Devices made of the mosquitto command-line clients, as a vendor's shell script would be."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
import uuid
from types import TracebackType
from urllib.parse import urlsplit


def host_port(broker_url: str) -> list[str]:
    parts = urlsplit(broker_url)
    return ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 1883)]


def mosquitto_pub(broker_url: str, *args: str) -> None:
    subprocess.run(["mosquitto_pub", *host_port(broker_url), "-q", "1", *args], check=True,
                   timeout=10)


class ShellSubscriber:
    """A ``mosquitto_sub`` that is known to be subscribed before the test publishes anything.

    mosquitto_sub says nothing when its SUBACK arrives, so it also subscribes to a probe topic
    holding a retained marker, after the topics it is for. The broker handles a SUBSCRIBE's
    topics in order and sends the retained marker once they are in place: when the marker is
    printed, every subscription is live. The marker is cleared again at once.
    """

    def __init__(self, broker_url: str, *topics: str, extra_args: tuple[str, ...] = ()) -> None:
        """``extra_args``: more mosquitto_sub options (a client id, a last will, a keepalive)."""
        self.broker_url = broker_url
        self.topics = topics
        self.extra_args = extra_args
        # Outside any test's prefix, so no controller hears (and dead-letters) the probe.
        self.probe_topic = f"probe/{uuid.uuid4().hex}"
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._held: list[tuple[str, str]] = []
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> ShellSubscriber:
        mosquitto_pub(self.broker_url, "-r", "-t", self.probe_topic, "-m", "probe")
        args = ["mosquitto_sub", *host_port(self.broker_url), "-q", "1", "-v", *self.extra_args]
        for topic in (*self.topics, self.probe_topic):
            args += ["-t", topic]
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self._next(self.probe_topic, timeout_s=15)
        finally:
            mosquitto_pub(self.broker_url, "-r", "-n", "-t", self.probe_topic)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()

    def kill(self) -> None:
        """SIGKILL: no DISCONNECT, so the broker publishes the last will if there is one."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _next(self, topic: str | None, timeout_s: float) -> str:
        for i, (heard, payload) in enumerate(self._held):
            if topic is None or heard == topic:
                del self._held[i]
                return payload
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"mosquitto_sub heard nothing on {topic or self.topics} "
                                     f"within {timeout_s} s") from None
            if line is None:
                raise AssertionError("mosquitto_sub exited")
            heard, _, payload = line.partition(" ")
            if heard == self.probe_topic and topic != self.probe_topic:
                continue
            if topic is None or heard == topic:
                return payload
            self._held.append((heard, payload))  # for a later next_payload on its topic

    def next_payload(self, topic: str | None = None, timeout_s: float = 20.0) -> str:
        """The payload of the next message on ``topic`` (any of the topics when None)."""
        return self._next(topic, timeout_s)
