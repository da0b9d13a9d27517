"""The ``hall controller`` command as a subprocess the browser tests can kill and start again,
against the real Mosquitto and a fresh PostgreSQL database, plus a device made of
``mosquitto_sub`` (whose last will the broker sends when the process is killed)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support.shell_mqtt import ShellSubscriber
from tests.support.waiting import eventually_blocking

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "browser-admin-pass-1"
PASSWORD = "browser-pass-123"


class HallProcess:
    """One controller + API; ``start``/``stop``/``kill`` keep the same port, database and data."""

    def __init__(self, *, mqtt_url: str, database_url: str, prefix: str, port: int,
                 data_dir: Path, log: Path, config: Path | None = None) -> None:
        """``config``: a config file instead of the repository's config.toml (the
        environment below still wins)."""
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.api = f"{self.base}/api/v1"
        self.log = log
        self.mqtt_url = mqtt_url
        self.prefix = prefix
        self.env = {
            **os.environ,
            "HALL_MQTT_URL": mqtt_url, "HALL_DATABASE_URL": database_url,
            "HALL_HTTP_PORT": str(port), "HALL_HTTP_HOST": "127.0.0.1",
            "HALL_DATA_DIR": str(data_dir), "HALL_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "HALL_AUTH_SECRET": "browser-tests-secret-" + "x" * 32,
            "HALL_MQTT_TOPIC_PREFIX": prefix,
            "HALL_MQTT_CLIENT_ID": f"browser-ctl-{uuid.uuid4().hex[:8]}",
        }
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self._tokens: dict[str, str] = {}
        self._kiosk_keys: dict[str, str] = {}

    def start(self, timeout_s: float = 30.0) -> None:
        with self.log.open("ab") as out:
            config = [] if self.config is None else ["--config", str(self.config)]
            self.proc = subprocess.Popen([sys.executable, "-m", "hall.cli", *config, "controller"],
                                         cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        proc = self.proc

        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"hall controller exited with {proc.returncode}:\n"
                                     + self.log.read_text(errors="replace")[-3000:])
            return httpx.get(f"{self.api}/health", timeout=1).status_code == 200
        eventually_blocking(healthy, timeout_s, "hall controller healthy", ignore=(httpx.HTTPError,),
                            context=lambda: self.log.read_text(errors="replace")[-3000:])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=12)
            except subprocess.TimeoutExpired:
                # Where it is stuck: the hall prints every task's and thread's stack on SIGUSR1.
                self.proc.send_signal(signal.SIGUSR1)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=3)
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise AssertionError(
                    f"hall controller did not stop within 15 s of {signal.Signals(sig).name}; "
                    "its log ends:\n" + self.log.read_text(errors="replace")[-12000:]) from None
        self.proc = None

    def token(self, user: str = "admin") -> str:
        if user not in self._tokens:
            password = ADMIN_PASSWORD if user == "admin" else PASSWORD
            response = httpx.post(f"{self.api}/auth/token",
                                  data={"username": user, "password": password}, timeout=10)
            response.raise_for_status()
            self._tokens[user] = response.json()["access_token"]
        return self._tokens[user]

    def call(self, method: str, path: str, *, user: str = "admin", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token(user)}", **kwargs.pop("headers", {})}
        response = httpx.request(method, f"{self.api}{path}", headers=headers, timeout=15, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def add_user(self, username: str, role: str) -> None:
        self.call("POST", "/users", json={"username": username, "password": PASSWORD, "role": role})

    def kiosk_key(self, device_id: str) -> str:
        """The browser kiosk's key, created by the admin on first use (shown only then)."""
        if device_id not in self._kiosk_keys:
            created = self.call("POST", "/kiosk/keys", json={"device_id": device_id})
            self._kiosk_keys[device_id] = str(created["kiosk_key"])
        return self._kiosk_keys[device_id]

    def take_ticket(self, service: str, device_id: str = "kiosk-web-1", *,
                    identity: tuple[str, str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"service": service, "request_id": str(uuid.uuid4())}
        if identity is not None:
            body["identity"] = {"type": identity[0], "value": identity[1]}
        response = httpx.post(f"{self.api}/kiosk/tickets", timeout=15,
                              headers={"X-Kiosk-Device": device_id,
                                       "X-Kiosk-Key": self.kiosk_key(device_id)},
                              json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


class ShellDevice:
    """A device whose MQTT connection is a ``mosquitto_sub`` process with a last will: killing
    the process (SIGKILL, no DISCONNECT) makes the broker publish the will, as when a device
    loses power."""

    def __init__(self, mqtt_url: str, prefix: str, device_id: str, kind: str,
                 site: str = "main-hall") -> None:
        parts = urlsplit(mqtt_url)
        self.mqtt_url = mqtt_url
        self.host, self.port = parts.hostname or "127.0.0.1", str(parts.port or 1883)
        self.prefix, self.device_id, self.kind, self.site = prefix, device_id, kind, site
        self.session = int(time.time())
        self.session_proc: ShellSubscriber | None = None

    def topic(self, channel: str) -> str:
        return f"{self.prefix}/dev/{self.device_id}/{channel}"

    def publish(self, channel: str, body: Any, *, retain: bool = False) -> None:
        cmd = ["mosquitto_pub", "-h", self.host, "-p", self.port, "-q", "1", "-t",
               self.topic(channel), "-s"]
        if retain:
            cmd.append("-r")
        subprocess.run(cmd, input=json.dumps(body).encode(), check=True, timeout=10)

    def start(self) -> None:
        will = json.dumps({"online": False, "session": self.session})
        # Connected (its will registered) and subscribed before the birth is published.
        self.session_proc = ShellSubscriber(self.mqtt_url, self.topic("cmd"), extra_args=(
            "-k", "5", "-i", f"{self.device_id}-{uuid.uuid4().hex[:6]}",
            "--will-topic", self.topic("state"), "--will-payload", will, "--will-qos", "1",
            "--will-retain")).__enter__()
        self.publish("state", {"online": True, "session": self.session, "kind": self.kind,
                               "model": "shell", "fw": "1.0", "ts": int(time.time() * 1000),
                               "site": self.site}, retain=True)

    def kill(self) -> None:
        if self.session_proc is not None:
            self.session_proc.kill()  # SIGKILL: the broker publishes the will
            self.session_proc = None

    def clear_retained(self) -> None:
        subprocess.run(["mosquitto_pub", "-h", self.host, "-p", self.port, "-t",
                        self.topic("state"), "-r", "-n"], check=False, timeout=10)
