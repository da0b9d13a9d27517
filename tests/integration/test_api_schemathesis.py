"""schemathesis over the live OpenAPI of a running hall: every operation, logged in as the
admin, in every phase (schema examples, boundary coverage, fuzzing and stateful sequences
along the links in tests/support/schemathesis_hooks.py), on the real PostgreSQL and broker.
Any 5xx fails the test, with schemathesis' reproduction (a curl command) and the
controller's log.

The run is bounded by ``max-examples`` in tests/integration/schemathesis.toml; it takes a
couple of minutes, most of it argon2 hashing on the login and user operations.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.hall_process import ROOT, ShellDevice
from tests.support.live_api import ADMIN_PASSWORD, LiveApi, running_live_api

# The fuzzer fails hundreds of logins (random names, wrong current passwords) from 127.0.0.1,
# its own token fetch included: with the default per-address lockout it would lock itself out
# (the lockouts have their own tests). This run is about server errors, so it may fail freely.
FUZZ_CONFIG = """
[auth.login]
max_failures_per_user = 1000000
max_failures_per_address = 1000000
"""


@pytest.fixture(scope="module")
def live_api(session_broker_url: str, pg_server_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with running_live_api(session_broker_url, pg_server_url,
                          tmp_path_factory.mktemp("live-api"), config_toml=FUZZ_CONFIG) as api:
        yield api

CONFIG = Path(__file__).with_name("schemathesis.toml")
DEVICES = (("lock-st-1", "door_lock"), ("display-st-1", "queue_display"))
RUN_TIMEOUT_S = 900


def announce_devices(api: LiveApi) -> None:
    """Devices the API knows, with a telemetry sample and an event each, then offline: the
    device routes reach the database, and commands answer at once (409, offline) rather than
    wait for an ack that would never come."""
    now = int(time.time() * 1000)
    shells = [ShellDevice(api.process.mqtt_url, api.process.prefix, device_id, kind)
              for device_id, kind in DEVICES]
    for shell in shells:
        shell.publish("state", {"online": True, "session": 1, "kind": shell.kind,
                                "model": "shell", "fw": "1.0", "ts": now}, retain=True)
        shell.publish("telemetry", {"ts": now, "values": {"battery": 87.5, "rssi": -61}})
        shell.publish("event", {"id": str(uuid.uuid4()), "ts": now, "type": "door.opened",
                                "data": {"by": "test"}})
        shell.publish("state", {"online": False, "session": 1}, retain=True)
    deadline = time.monotonic() + 20
    for shell in shells:
        while True:
            device = api.request("GET", f"/devices/{shell.device_id}")
            events = api.request("GET", f"/devices/{shell.device_id}/events")
            if (device.status_code == 200 and not device.json()["online"]
                    and device.json()["latest"] and events.json()):
                break
            assert time.monotonic() < deadline, f"{shell.device_id} never arrived: {device.text}"
            time.sleep(0.05)
        shell.clear_retained()


def test_no_operation_answers_with_a_server_error(live_api: LiveApi, tmp_path: Path) -> None:
    announce_devices(live_api)
    kiosk_key = live_api.request("POST", "/kiosk/keys",
                                 json={"device_id": "kiosk-web-1"}).json()["kiosk_key"]
    operations = sum(len(methods) for methods in
                     httpx.get(f"{live_api.base}/openapi.json", timeout=10).json()["paths"]
                     .values())
    junit = tmp_path / "schemathesis.xml"
    env = {"HALL_ADMIN_PASSWORD": ADMIN_PASSWORD, "HALL_KIOSK_KEY": kiosk_key,
           "PYTHONPATH": str(ROOT), "PATH": str(Path(sys.executable).parent),
           "HOME": str(tmp_path), "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
         f"{live_api.base}/openapi.json", "--report", "junit", "--report-junit-path", str(junit)],
        cwd=ROOT, env=env, capture_output=True, encoding="utf-8", errors="replace",
        timeout=RUN_TIMEOUT_S, check=False)
    took_s = time.monotonic() - started
    output = run.stdout + run.stderr
    (tmp_path / "schemathesis.txt").write_text(output)
    summary = output[output.rfind("SUMMARY"):] if "SUMMARY" in output else output[-3000:]
    print(f"\nschemathesis: {took_s:.0f} s\n{summary}")
    assert run.returncode == 0, f"schemathesis found server errors (or could not run):\n" \
                                f"{output[-12000:]}\n--- controller log ---\n{live_api.log_tail()}"
    tested = re.search(r"Tested: (\d+)", output)
    assert tested is not None and int(tested.group(1)) == operations, summary
    assert re.search(r"✅ Stateful", output), summary
