"""Broker fixtures: a reachable broker URL and a unique topic prefix per test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from hall.embedded_broker import free_port
from tests.support.waiting import eventually_blocking

EMBEDDED = os.environ.get("HALL_TEST_EMBEDDED") == "1"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


def wait_for_port(host: str, port: int, timeout_s: float = 15.0) -> None:
    def answers() -> bool:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    eventually_blocking(answers, timeout_s, f"something to answer on {host}:{port}",
                        interval_s=0.05, ignore=(OSError,))


class BrokerProcess:
    """A broker in a child process that a test can stop and start again on the same port."""

    def __init__(self, embedded: bool) -> None:
        self.embedded = embedded
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.embedded:
            cmd = [sys.executable, "-m", "hall.embedded_broker", "--port", str(self.port)]
        else:
            cmd = ["mosquitto", "-p", str(self.port)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None


@pytest.fixture(scope="session")
def session_broker_url() -> Iterator[str]:
    """The broker every integration test shares (topics kept apart by ``topic_prefix``)."""
    if EMBEDDED:
        broker = BrokerProcess(embedded=True)
        broker.start()
        try:
            yield broker.url
        finally:
            broker.stop()
        return
    url = os.environ.get("HALL_TEST_MQTT_URL", DEFAULT_MQTT_URL)
    parts = urlsplit(url)
    wait_for_port(parts.hostname or "127.0.0.1", parts.port or 1883, timeout_s=5)
    yield url


@pytest.fixture
def broker_url(session_broker_url: str) -> str:
    return session_broker_url


@pytest.fixture
def topic_prefix() -> str:
    """A prefix of this test's own, so tests on one broker never see each other's messages."""
    return f"test-{uuid.uuid4().hex[:10]}/hall/v1"


@pytest.fixture
def private_broker() -> Iterator[BrokerProcess]:
    """A broker of this test's own (Mosquitto, or amqtt when embedded) that it may stop and start."""
    broker = BrokerProcess(embedded=EMBEDDED)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
