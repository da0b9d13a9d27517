"""``hall controller`` as an OS process a test can start, stop, or kill outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from hall.embedded_broker import free_port
from tests.support.waiting import eventually_blocking


class ControllerProcess:
    """One ``hall controller`` process; ``env`` gives its broker, database, prefix and client
    id (``HALL_MQTT_CLIENT_ID``: keep it to resume the same persistent MQTT session)."""

    def __init__(self, name: str, env: dict[str, str], tmp_path: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log = tmp_path / f"{name}.log"
        self.health_url = f"http://127.0.0.1:{self.port}/api/v1/health"
        data = tmp_path / name
        data.mkdir()
        with self.log.open("w") as out:
            # cwd without a config.toml: the built-in demo services, open at all hours.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hall.cli", "--log-level", "WARNING", "controller"],
                env={**os.environ, "HALL_HTTP_PORT": str(self.port), "HALL_DATA_DIR": str(data),
                     **env},
                cwd=data, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def health(self) -> dict[str, object]:
        response = httpx.get(self.health_url, timeout=5)
        response.raise_for_status()
        body: dict[str, object] = response.json()
        return body

    def counters(self) -> dict[str, int]:
        counters = self.health()["counters"]
        assert isinstance(counters, dict)
        return counters

    def requests_handled(self) -> int:
        return int(self.counters()["requests"])

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Until health says ok: connected to the database, and to the broker with every
        subscription acknowledged (the bus reports connected only after its SUBACKs)."""
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.output()}")
            return self.health()["status"] == "ok"
        eventually_blocking(ready, timeout_s, f"{self.name} ready", ignore=(httpx.HTTPError,),
                            context=self.output)

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its connections but does nothing, acknowledges nothing,
        until it is killed or ``thaw``ed; a test uses it to choose the moment of a kill."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush, no PUBACK for what it was working on."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
