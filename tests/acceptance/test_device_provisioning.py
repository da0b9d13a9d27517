"""Device identity as an operator uses it: ``hall controller`` on its embedded broker (logins
on), ``hall devices provision`` in another process, the bundle as the device host's
config.toml for ``hall edge``; an anonymous ``mosquitto_pub`` is refused, and so is the device
once revoked."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from hall.embedded_broker import free_port
from tests.acceptance.test_cli import HALL, Running, start_hall, stop, wait_until

__all__ = ["start_hall"]  # a fixture, imported for pytest


def hall_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HALL, "--log-level", "WARNING", *args], env={**os.environ, **env},
                          cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_a_provisioned_edge_agent_is_heard_and_strangers_and_revoked_ones_are_not(
        start_hall: Callable[..., Running], database_url: str, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "config.toml").write_text(f"[mqtt.embedded]\nport = {port}\n", encoding="utf-8")
    # Production's default, whatever the test session set for the other tests.
    env = {"HALL_MQTT_URL": "", "HALL_DATABASE_URL": database_url,
           "HALL_DEVICES_AUTO_REGISTER": "false", "HALL_DATA_DIR": str(tmp_path / "data")}
    hall = start_hall("controller", env=env)
    wait_until(lambda: httpx.get(f"{hall.base}/health").json()["status"] == "ok", 30, "ready",
               hall)
    assert "devices.auto_register is off" in hall.output()

    # Anyone who reaches the broker (the attack of issue 12): refused, in plain TCP (the
    # embedded broker speaks TLS only) and over TLS without a login.
    def forge(*tls: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), *tls, "-q", "1",
             "-t", "hall/v1/dev/gate-01/event", "-m",
             '{"id":"00000000-0000-4000-8000-000000000001","ts":1,"type":"access.granted"}'],
            capture_output=True, text=True, timeout=30, check=False)

    assert forge().returncode != 0
    forged = forge("--cafile", str(tmp_path / "data" / "tls" / "ca.crt"))
    assert forged.returncode != 0 and "not authori" in forged.stderr, forged.stderr

    provisioned = hall_cli("devices", "provision", "lock-77", "--kind", "door_lock",
                           "--site", "dorm-7", env=env, cwd=tmp_path)
    assert provisioned.returncode == 0, provisioned.stderr
    device_host = tmp_path / "lock-77"
    device_host.mkdir()
    (device_host / "config.toml").write_text(provisioned.stdout, encoding="utf-8")
    edge_env = {k: v for k, v in os.environ.items() if not k.startswith("HALL_")}
    edge_env["HALL_DATA_DIR"] = str(device_host / "data")
    with (device_host / "edge.log").open("w") as log:
        edge = subprocess.Popen([*HALL, "edge"], env=edge_env, cwd=device_host, stdout=log,
                                stderr=subprocess.STDOUT, text=True)
    try:
        def online() -> bool:
            devices = {d["device_id"]: d for d in hall.get("/devices")}
            return "lock-77" in devices and devices["lock-77"]["online"]
        wait_until(online, 30, "the provisioned lock online", hall)
        assert {d["device_id"]: d for d in hall.get("/devices")}["lock-77"]["kind"] == "door_lock"

        revoked = hall_cli("devices", "revoke", "lock-77", env=env, cwd=tmp_path)
        assert revoked.returncode == 0, revoked.stderr
        # Revoked by another process: its next login is refused.
        edge.terminate()
        edge.wait(timeout=30)
        with (device_host / "edge-again.log").open("w") as log:
            again = subprocess.Popen([*HALL, "edge"], env=edge_env, cwd=device_host, stdout=log,
                                     stderr=subprocess.STDOUT, text=True)
        try:
            wait_until(lambda: "Not authorized" in (device_host / "edge-again.log").read_text(),
                       30, "the revoked lock's login refused", hall)
        finally:
            again.terminate()
            again.wait(timeout=30)
    finally:
        if edge.poll() is None:
            edge.kill()
            edge.wait()
    assert stop(hall) == 0
