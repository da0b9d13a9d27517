"""The ``hall`` command as a user runs it: as a subprocess, through HTTP and raw MQTT."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import time as dt_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from hall.config import HallConfig
from hall.demo import replay_span
from hall.embedded_broker import free_port
from hall_controller.queue.service_day import service_day_at
from tests.support.shell_mqtt import ShellSubscriber, mosquitto_pub
from tests.support.waiting import eventually, eventually_blocking

HALL = [sys.executable, "-m", "hall.cli"]
ADMIN_PASSWORD = "acceptance-pass-1"


class Running:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path) -> None:
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self.log = log
        self._token: str | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def token(self) -> str:
        if self._token is None:
            response = httpx.post(f"{self.base}/auth/token",
                                  data={"username": "admin", "password": ADMIN_PASSWORD})
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.base}{path}", params=params,
                             headers={"Authorization": f"Bearer {self.token()}"}, timeout=10)
        response.raise_for_status()
        return response.json()


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, running: Running) -> None:
    """``eventually`` for a running ``hall``: fails at once if it exits, with its log."""
    def alive_and_true() -> bool:
        if running.proc.poll() is not None:
            raise AssertionError(f"hall exited with {running.proc.returncode}:\n{running.output()[-3000:]}")
        return check()
    eventually_blocking(alive_and_true, timeout_s, what, interval_s=0.2,
                        ignore=(httpx.HTTPError, KeyError, ValueError),
                        context=lambda: running.output()[-3000:])


@pytest.fixture
def start_hall(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Running:
        port = free_port()
        log = tmp_path / f"hall-{len(started)}.log"
        full_env = {**os.environ, "HALL_HTTP_PORT": str(port), "HALL_DATA_DIR": str(tmp_path / "data"),
                    "HALL_ADMIN_PASSWORD": ADMIN_PASSWORD, **(env or {})}
        with log.open("w") as out:
            proc = subprocess.Popen([*HALL, *args], env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                    text=True, cwd=tmp_path)
        running = Running(proc, port, log)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait()


def stop(running: Running) -> int:
    """SIGINT, as Ctrl-C; the hall prints its stacks if it is still stopping after 15 s."""
    running.proc.send_signal(signal.SIGINT)
    try:
        return running.proc.wait(timeout=45)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"hall did not stop within 45 s of SIGINT:\n"
                             f"{running.output()[-12000:]}") from None


def test_demo_lists_simulated_devices_online_and_stops_cleanly(
        start_hall: Callable[..., Running], tmp_path: Path) -> None:
    # The live hall at 60x, so its kiosks take tickets within seconds (real time: minutes).
    (tmp_path / "config.toml").write_text("[demo]\nspeed = 60\n", encoding="utf-8")
    demo = start_hall("demo", env={"HALL_MQTT_URL": "", "HALL_DATABASE_URL": ""})
    started = time.monotonic()
    started_ms = int(time.time() * 1000)

    def all_online() -> bool:
        devices = demo.get("/devices")
        return len(devices) == 12 and all(d["online"] for d in devices)

    # Generous: a loaded machine starts slowly (embedded PostgreSQL, 12 agents).
    wait_until(all_online, 45, "12 simulated devices online", demo)
    ready_s = time.monotonic() - started
    kinds = sorted({d["kind"] for d in demo.get("/devices")})
    assert kinds == ["door_lock", "face_gate", "kiosk", "queue_display"]
    assert "admin / (the HALL_ADMIN_PASSWORD you set)" in demo.output()
    assert "/api/v1/devices" in demo.output()
    # The simulated devices talk to the embedded broker over TLS only, trusting the CA the
    # hall generated into its data dir on this first start.
    ca_file = tmp_path / "data" / "tls" / "ca.crt"
    assert re.search(rf"Broker:\s+mqtts://127\.0\.0\.1:\d+ \(TLS; CA: {re.escape(str(ca_file))}\)",
                     demo.output()), demo.output()[:3000]
    first_ca = ca_file.read_bytes()
    wait_until(lambda: all(d["latest"] for d in demo.get("/devices")), 15, "telemetry from all", demo)
    # The day so far is replayed (yesterday's, before opening): tickets with waits of minutes,
    # online cases linked to them, and a one-trip rate.
    replayed = replay_span(HallConfig(), started_ms).service_day

    def day_replayed() -> bool:
        day = demo.get("/stats/services", day=replayed)
        return ("demo: replayed" in demo.output() and day["one_trip"]["rate"] is not None
                and sum(s["linked"] for s in day["services"]) > 0)

    wait_until(day_replayed, 120, f"{replayed} replayed", demo)
    day = demo.get("/stats/services", day=replayed)
    assert max(s["mean_wait_s"] or 0 for s in day["services"]) > 60
    assert {s["name"] for s in day["services"]} >= {"宿舍事务", "财务缴费"}
    # Then the hall is alive: visitors take tickets at the simulated kiosks (over MQTT), and
    # the simulated online platform has its API key.
    # The hall's service day (it ends at 03:00 local, not at midnight).
    today = service_day_at(int(time.time() * 1000), ZoneInfo("Asia/Shanghai"), dt_time(3, 0))

    def tickets_today() -> int:
        return sum(s["tickets"] for s in demo.get("/stats/services", day=today)["services"])

    before = tickets_today()
    wait_until(lambda: tickets_today() > before, 30, "tickets taken by simulated visitors", demo)
    keys = demo.get("/integration/keys")
    assert any(k["name"] == "simulated online platform (hall demo)" and k["active"] for k in keys)
    # The simulated gates and locks let people in, and the controller's policy contains every
    # such grant (the demo enrolled them): nothing is suspicious.
    wait_until(lambda: any(e["outcome"] == "granted" for e in demo.get(
        "/access/audit", category="decision", limit=1000)["items"]), 30, "grants audited", demo)
    decisions = demo.get("/access/audit", category="decision", limit=1000)["items"]
    assert not [e for e in decisions if e["outcome"] == "suspicious"]
    assert not [a for a in demo.get("/alarms") if a["type"] == "access.suspicious_grant"]
    assert "simulated people and" in demo.output()
    # One window is left for a real clerk: nobody simulated holds it.
    assert "w4 free for you" in demo.output()
    # Alarm notifications go to the demo's local mailbox, to an on-call person on the rota.
    assert "Alarms:   mailed to a local mailbox" in demo.output()
    assert [p["name"] for p in demo.get("/notify/rota")["on_call_now"]] == ["值班员（演示）"]
    windows = {w["window_id"]: w for w in demo.get("/windows")}
    assert windows["w4"]["session"] is None
    assert {windows[w]["session"]["clerk"] for w in ("w1", "w2", "w3")} == {
        "sim-w1", "sim-w2", "sim-w3"}
    first_run_from = int(time.time() * 1000) - 60_000
    assert stop(demo) == 0, demo.output()[-2000:]
    first_run_to = int(time.time() * 1000)
    assert "Traceback" not in demo.output()
    print(f"demo ready in {ready_s:.1f} s")

    # Data persists: a second run starts from what the first stored.
    again = start_hall("demo", env={"HALL_MQTT_URL": "", "HALL_DATABASE_URL": ""})
    wait_until(lambda: len(again.get("/devices")) == 12, 15, "devices after restart", again)
    # The admin made on the first run keeps their password: no new one is claimed.
    assert "admin / (unchanged: the existing admin's password" in again.output()
    assert ca_file.read_bytes() == first_ca, "the CA changed: devices would stop trusting it"
    series = again.get("/devices/kiosk-01/telemetry", metric="cpu_temp_c", from_ms=first_run_from,
                       to_ms=first_run_to, bucket_s=60)
    buckets = series["buckets"] if isinstance(series, dict) else series
    assert sum(b["count"] for b in buckets) > 0, "telemetry of the first run was not kept"
    assert stop(again) == 0


_mosquitto_pub = mosquitto_pub


def test_a_shell_device_registers_reports_and_goes_offline_by_its_will(
        start_hall: Callable[..., Running], broker_url: str, topic_prefix: str, database_url: str) -> None:
    assert shutil.which("mosquitto_pub") and shutil.which("mosquitto_sub"), "mosquitto clients missing"
    hall = start_hall("controller", env={"HALL_MQTT_URL": broker_url, "HALL_DATABASE_URL": database_url,
                                         "HALL_MQTT_TOPIC_PREFIX": topic_prefix,
                                         "HALL_MQTT_CLIENT_ID": f"acc-{uuid.uuid4().hex[:8]}"})
    wait_until(lambda: httpx.get(f"{hall.base}/health").status_code == 200, 20, "healthy", hall)
    state = f"{topic_prefix}/dev/kiosk-99/state"
    # The device's MQTT session is a mosquitto_sub holding its last will, as in docs/protocol.md.
    session = ShellSubscriber(broker_url, f"{topic_prefix}/dev/kiosk-99/cmd", extra_args=(
        "-i", f"kiosk-99-{uuid.uuid4().hex[:4]}", "--will-topic", state,
        "--will-payload", '{"online":false,"session":1}', "--will-qos", "1", "--will-retain"))
    with session:
        now = int(time.time() * 1000)
        _mosquitto_pub(broker_url, "-r", "-t", state, "-m", json.dumps(
            {"online": True, "session": 1, "kind": "kiosk", "model": "shell", "fw": "0.1", "ts": now}))
        for i in range(3):
            _mosquitto_pub(broker_url, "-t", f"{topic_prefix}/dev/kiosk-99/telemetry", "-m",
                           json.dumps({"ts": now + i, "values": {"paper_level_pct": 80 - i}}))

        wait_until(lambda: hall.get("/devices/kiosk-99")["online"], 10, "kiosk-99 online", hall)
        wait_until(lambda: hall.get("/devices/kiosk-99")["latest"]["paper_level_pct"]["value"] == 78,
                   10, "latest value", hall)
        series = hall.get("/devices/kiosk-99/telemetry", metric="paper_level_pct",
                          from_ms=now - 60_000, to_ms=now + 60_000, bucket_s=60)
        buckets = series["buckets"] if isinstance(series, dict) else series
        assert sum(b["count"] for b in buckets) == 3
        session.kill()  # no DISCONNECT: the broker publishes the will

    wait_until(lambda: not hall.get("/devices/kiosk-99")["online"], 10, "offline by will", hall)
    alarms = hall.get("/alarms", device_id="kiosk-99")
    assert [(a["type"], a["status"]) for a in alarms] == [("device.offline", "active")]
    assert stop(hall) == 0


def test_a_killed_simulated_device_goes_offline_and_raises_an_alarm(
        start_hall: Callable[..., Running], broker_url: str, topic_prefix: str, database_url: str,
        tmp_path: Path) -> None:
    hall = start_hall("controller", env={"HALL_MQTT_URL": broker_url, "HALL_DATABASE_URL": database_url,
                                         "HALL_MQTT_TOPIC_PREFIX": topic_prefix,
                                         "HALL_MQTT_CLIENT_ID": f"acc-{uuid.uuid4().hex[:8]}"})
    wait_until(lambda: httpx.get(f"{hall.base}/health").status_code == 200, 20, "healthy", hall)
    device_id = f"lock-{uuid.uuid4().hex[:6]}"
    agent = subprocess.Popen([sys.executable, "-m", "simulators.agent_process", "--device-id", device_id,
                              "--kind", "door_lock", "--broker-url", broker_url, "--prefix", topic_prefix,
                              "--data-dir", str(tmp_path / "edge"), "--telemetry-interval-s", "1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: hall.get(f"/devices/{device_id}")["online"], 15, "agent online", hall)
        killed_at = time.monotonic()
        agent.send_signal(signal.SIGKILL)
        agent.wait()
        wait_until(lambda: not hall.get(f"/devices/{device_id}")["online"], 15, "offline after kill", hall)
        print(f"offline {time.monotonic() - killed_at:.2f} s after SIGKILL")
        alarms = hall.get("/alarms", device_id=device_id, status="active")
        # The simulated lock may also have reported a forced door now and then (its own alarm).
        offline = [(a["type"], a["severity"]) for a in alarms if a["type"] == "device.offline"]
        assert offline == [("device.offline", "critical")]
    finally:
        if agent.poll() is None:
            agent.kill()
    assert stop(hall) == 0


def test_sigusr1_prints_where_the_hall_is_and_it_keeps_serving(
        start_hall: Callable[..., Running], broker_url: str, topic_prefix: str, database_url: str) -> None:
    hall = start_hall("controller", env={"HALL_MQTT_URL": broker_url, "HALL_DATABASE_URL": database_url,
                                         "HALL_MQTT_TOPIC_PREFIX": topic_prefix,
                                         "HALL_MQTT_CLIENT_ID": f"acc-{uuid.uuid4().hex[:8]}"})
    wait_until(lambda: httpx.get(f"{hall.base}/health").status_code == 200, 20, "healthy", hall)
    hall.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: "hall: stacks on SIGUSR1" in hall.output(), 10, "stacks printed", hall)
    # The HTTP server's task and the controller's ingest are named in what it printed.
    wait_until(lambda: "--- task http-api" in hall.output(), 5, "the API task listed", hall)
    assert httpx.get(f"{hall.base}/health").status_code == 200
    assert stop(hall) == 0


def test_a_wrong_setting_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    result = subprocess.run([*HALL, "controller"], env={**os.environ, "HALL_HTTP_PORT": "eighty"},
                            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "http.port" in result.stderr and "eighty" in result.stderr


def test_a_kiosk_ticket_is_called_by_a_clerk_and_announced_on_the_display(
        start_hall: Callable[..., Running], broker_url: str, topic_prefix: str, database_url: str) -> None:
    hall = start_hall("controller", env={"HALL_MQTT_URL": broker_url, "HALL_DATABASE_URL": database_url,
                                         "HALL_MQTT_TOPIC_PREFIX": topic_prefix,
                                         "HALL_MQTT_CLIENT_ID": f"acc-{uuid.uuid4().hex[:8]}"})
    wait_until(lambda: httpx.get(f"{hall.base}/health").status_code == 200, 20, "healthy", hall)
    now = int(time.time() * 1000)
    # A queue display of the main hall, and a kiosk, made of mosquitto clients only.
    _mosquitto_pub(broker_url, "-r", "-t", f"{topic_prefix}/dev/display-77/state", "-m", json.dumps(
        {"online": True, "session": 1, "kind": "queue_display", "site": "main-hall", "ts": now}))
    _mosquitto_pub(broker_url, "-r", "-t", f"{topic_prefix}/dev/kiosk-77/state", "-m", json.dumps(
        {"online": True, "session": 1, "kind": "kiosk", "site": "main-hall", "ts": now}))
    wait_until(lambda: hall.get("/devices/display-77")["online"], 10, "display online", hall)
    display_cmd, kiosk_res = f"{topic_prefix}/dev/display-77/cmd", f"{topic_prefix}/dev/kiosk-77/res"
    # How fast the display hears a call: benchmarks/latency.py.
    with ShellSubscriber(broker_url, display_cmd, kiosk_res) as shell:
        _mosquitto_pub(broker_url, "-t", f"{topic_prefix}/dev/kiosk-77/req", "-m", json.dumps(
            {"id": "take-1", "method": "ticket.take", "params": {"service": "student-id"}}))
        reply = json.loads(shell.next_payload(kiosk_res))
        assert reply["ok"] is True, reply
        number = reply["result"]["ticket"]
        assert number.startswith("A") and reply["result"]["waiting_ahead"] == 0

        headers = {"Authorization": f"Bearer {hall.token()}"}
        assert httpx.post(f"{hall.base}/windows/w1/open", headers=headers).status_code == 200
        called = httpx.post(f"{hall.base}/windows/w1/call-next", headers=headers).json()
        assert called["called"]["number"] == number
        command = json.loads(shell.next_payload(display_cmd))
        assert command["method"] == "display.call"
        assert command["params"]["ticket"] == number and command["params"]["window"] == 1
        assert command["params"]["text"] == f"请 {number} 号到 1 号窗口办理"
    assert stop(hall) == 0


def test_a_camera_on_something_that_is_not_a_face_gate_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "HALL_MQTT_URL": "mqtt://127.0.0.1:1883", "HALL_EDGE_KIND": "kiosk",
           "HALL_EDGE_CAMERA": "0", "HALL_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([*HALL, "edge"], env=env, capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "edge.camera" in result.stderr and "face_gate" in result.stderr


async def test_hall_edge_drives_a_door_on_an_rs485_board_and_obeys_a_signed_unlock(
        start_hall: Callable[..., Running], broker_url: str, topic_prefix: str, database_url: str,
        tmp_path: Path) -> None:
    """``hall controller`` and ``hall edge`` as separate processes, the door's lock board
    emulated on a pty: the door is provisioned with the key derived from the controller's
    secret, comes online with its board, and a remote unlock through the API pulses the
    board's relay."""
    from devices.signing import derive_device_key
    from simulators.emulated import EmulatedLockBus

    secret = "acceptance-command-secret-0123456789abcdef"
    device_id = f"lock-{uuid.uuid4().hex[:6]}"
    key = derive_device_key(secret.encode(), device_id).hex()
    (tmp_path / "door").mkdir()
    (tmp_path / "door" / "config.toml").write_text(
        f'[edge]\ndevice_id = "{device_id}"\nkind = "door_lock"\ncommand_key = "{key}"\n'
        f'[edge.hardware.lock_board]\nport = "{tmp_path / "rs485"}"\naddress = 2\nrelay = 1\n'
        'poll_interval_s = 0.1\n', encoding="utf-8")
    common = {"HALL_MQTT_URL": broker_url, "HALL_MQTT_TOPIC_PREFIX": topic_prefix,
              "HALL_COMMAND_SECRET": secret}
    async with EmulatedLockBus(tmp_path / "rs485", addresses=(2,)) as bus:
        hall = start_hall("controller", env={**common, "HALL_DATABASE_URL": database_url,
                                             "HALL_MQTT_CLIENT_ID": f"acc-{uuid.uuid4().hex[:8]}"})
        door = await asyncio.create_subprocess_exec(
            *HALL, "--config", str(tmp_path / "door" / "config.toml"), "edge",
            env={**os.environ, **common, "HALL_DATA_DIR": str(tmp_path / "door" / "data")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            async with httpx.AsyncClient(base_url=hall.base, timeout=20) as api:
                async def until(check: Callable[[], Any], what: str, timeout_s: float = 30) -> Any:
                    async def answered() -> Any:
                        try:
                            return await check()
                        except (httpx.HTTPError, KeyError, ValueError):
                            return None  # not up yet
                    try:
                        # The emulated board runs on this loop: poll gently.
                        return await eventually(answered, timeout_s, what, interval_s=0.2)
                    except AssertionError as exc:
                        raise AssertionError(f"{exc}\n{hall.output()[-3000:]}") from None

                async def token() -> str:
                    reply = await api.post("/auth/token", data={"username": "admin",
                                                                "password": ADMIN_PASSWORD})
                    return str(reply.json()["access_token"])
                auth = {"Authorization": f"Bearer {await until(token, 'a login')}"}

                async def board_online() -> bool:
                    device = (await api.get(f"/devices/{device_id}", headers=auth)).json()
                    return bool(device["online"]) and device["latest"]["lock_board_online"][
                        "value"] is True
                await until(board_online, "the door online with its lock board")
                reply = await api.post(f"/access/doors/{device_id}/unlock", headers=auth,
                                       json={"duration_s": 3, "reason": "acceptance test"})
                assert reply.status_code == 200, reply.text
                assert reply.json()["status"] == "succeeded", reply.json()
            assert [relay for relay, _ in bus.boards[2].pulses][:1] == [1]
        finally:
            door.terminate()
            async with asyncio.timeout(30):
                await door.wait()
    assert stop(hall) == 0
