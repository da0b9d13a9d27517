"""How many QoS 1 messages does Mosquitto keep for a persistent subscriber that is away?

The hall controller is such a subscriber (clean_session=False, QoS 1). While it is down or
behind, the broker queues for it, up to ``max_queued_messages`` / ``max_queued_bytes``, and
silently drops the rest. This benchmark measures that instead of claiming it:

  1. start a private Mosquitto on a free 127.0.0.1 port (never the machine's own broker),
  2. connect a persistent QoS 1 subscriber, subscribe, disconnect it,
  3. publish N QoS 1 messages (each one acknowledged by the broker),
  4. reconnect the subscriber (same client id, no resubscribe) and count what arrives.

Scenarios: the stock limits; the queue settings of deploy/mosquitto/hall.conf; hall.conf with
a broker restart while the subscriber is away (persistence); hall.conf with max_queued_bytes
shrunk so that the byte bound, not the count, is what drops messages; and two controllers in
one shared subscription group ($share/hall/...) with one of them away.

    .venv/bin/python benchmarks/broker_queue_limit.py [--messages 5000] [--conf path]

Bounded: a few seconds per scenario, well under a minute in all; every broker it starts is
stopped again and its temporary directory removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
HALL_CONF = ROOT / "deploy" / "mosquitto" / "hall.conf"

# hall.conf options that decide what is queued, kept and delivered; everything else in it
# (listener, accounts, paths, logging) is replaced by the private broker's own lines.
QUEUE_OPTIONS = (
    "persistence", "autosave_interval", "autosave_on_changes", "max_queued_messages",
    "max_queued_bytes", "queue_qos0_messages", "max_inflight_messages", "max_inflight_bytes",
    "persistent_client_expiration", "message_size_limit", "max_packet_size", "set_tcp_nodelay",
)


def hall_queue_settings(conf: Path) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in conf.read_text(encoding="utf-8").splitlines():
        words = line.split(None, 1)
        if len(words) == 2 and words[0] in QUEUE_OPTIONS:
            settings[words[0]] = words[1].strip()
    if "max_queued_messages" not in settings:
        raise SystemExit(f"{conf} sets no max_queued_messages; is it the hall broker config?")
    return settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Broker:
    """A private Mosquitto on 127.0.0.1:<free port> with its own config and data directory."""

    def __init__(self, settings: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "log_dest stderr"]
        if os.geteuid() == 0:
            # as root, Mosquitto would switch to a user that cannot write the temp directory
            lines.append("user root")
        lines += [f"{key} {value}" for key, value in settings.items()]
        if settings.get("persistence") == "true":
            lines.append(f"persistence_location {workdir}/")
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        log = self.log.open("ab")
        self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"mosquitto exited at start:\n{self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"mosquitto did not listen on {self.port}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM: a clean shutdown, which writes the persistence file."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
            self.proc = None


@contextmanager
def private_broker(settings: dict[str, str]) -> Iterator[Broker]:
    workdir = Path(tempfile.mkdtemp(prefix="hall-queue-bench-"))
    broker = Broker(settings, workdir)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _client(client_id: str, clean_session: bool) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                       clean_session=clean_session, protocol=mqtt.MQTTv311)


def _connect(client: mqtt.Client, port: int) -> bool:
    """Connect and wait for CONNACK; returns the session-present flag."""
    connected = threading.Event()
    flags: dict[str, bool] = {}

    def on_connect(_c, _u, connect_flags, reason_code, _p) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            raise SystemExit(f"connect refused: {reason_code}")
        flags["session_present"] = bool(connect_flags.session_present)
        connected.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    if not connected.wait(10):
        raise SystemExit("no CONNACK within 10 s")
    return flags["session_present"]


def _disconnect(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def payload(seq: int, size: int) -> bytes:
    """A telemetry message of the contract's shape, padded to about ``size`` bytes."""
    values: dict[str, object] = {"seq": seq, "temp_c": 24.5, "paper_pct": 80, "door": "closed"}
    body = {"ts": 1_795_000_000_000 + seq, "values": values}
    raw = json.dumps(body, separators=(",", ":"))
    if len(raw) < size:
        values["note"] = "x" * (size - len(raw) - 10)
        raw = json.dumps(body, separators=(",", ":"))
    return raw.encode()


@dataclass
class Result:
    name: str
    published: int
    delivered: int
    session_present: bool
    first_missing: int | None
    queued_rss_kib: int
    seconds: float

    def line(self) -> str:
        dropped = self.published - self.delivered
        text = f"{self.name}: {self.delivered}/{self.published} delivered"
        text += f" ({dropped} dropped"
        text += f", first lost: #{self.first_missing})" if dropped else ")"
        if not self.session_present:
            text += " [session LOST]"
        return text


def run_scenario(name: str, settings: dict[str, str], messages: int, size: int,
                 restart_while_away: bool = False) -> Result:
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    topic_root = f"bench-{run}/hall/v1/dev"
    sub_id = f"bench-controller-{run}"
    with private_broker(settings) as broker:
        # 1. the persistent subscriber (the controller) subscribes, then goes away
        sub = _client(sub_id, clean_session=False)
        _connect(sub, broker.port)
        subscribed = threading.Event()
        sub.on_subscribe = lambda *_a: subscribed.set()
        sub.subscribe(f"{topic_root}/+/telemetry", qos=1)
        if not subscribed.wait(10):
            raise SystemExit("no SUBACK within 10 s")
        _disconnect(sub)

        # 2. devices keep publishing at QoS 1; every message is acknowledged by the broker
        assert broker.proc is not None
        rss_before = rss_kib(broker.proc.pid)
        pub = _client(f"bench-device-{run}", clean_session=True)
        pub.max_inflight_messages_set(200)
        pub.max_queued_messages_set(0)
        _connect(pub, broker.port)
        infos = [pub.publish(f"{topic_root}/dev-{seq % 50}/telemetry", payload(seq, size), qos=1)
                 for seq in range(messages)]
        for info in infos:
            info.wait_for_publish(timeout=30)
            if not info.is_published():
                raise SystemExit("the broker did not acknowledge every publish")
        _disconnect(pub)
        queued_rss = rss_kib(broker.proc.pid) - rss_before

        if restart_while_away:
            broker.stop()   # clean shutdown: the queue is saved to the persistence file
            broker.start()  # same port, same data directory

        # 3. the subscriber comes back with the same client id and counts what it gets
        seen: set[int] = set()
        last_arrival = [time.monotonic()]
        lock = threading.Lock()

        def on_message(_c, _u, msg) -> None:  # type: ignore[no-untyped-def]
            seq = json.loads(msg.payload)["values"]["seq"]
            with lock:
                seen.add(seq)
                last_arrival[0] = time.monotonic()

        back = _client(sub_id, clean_session=False)
        back.on_message = on_message
        session_present = _connect(back, broker.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with lock:
                if len(seen) >= messages or time.monotonic() - last_arrival[0] > 1.5:
                    break
            time.sleep(0.05)
        _disconnect(back)

    missing = sorted(set(range(messages)) - seen)
    return Result(name, messages, len(seen), session_present, missing[0] if missing else None,
                  queued_rss, time.monotonic() - started)


def run_shared_scenario(settings: dict[str, str], messages: int, size: int) -> str:
    """Two controllers in one shared subscription group, one of them away: who gets what?"""
    run = uuid.uuid4().hex[:8]
    topic_root = f"bench-{run}/hall/v1/dev"
    counts = {"present": 0, "away": 0}
    lock = threading.Lock()

    def member(name: str, port: int) -> mqtt.Client:
        client = _client(f"bench-controller-{name}-{run}", clean_session=False)

        def on_message(_c, _u, _m) -> None:  # type: ignore[no-untyped-def]
            with lock:
                counts[name] += 1

        client.on_message = on_message
        _connect(client, port)
        subscribed = threading.Event()
        client.on_subscribe = lambda *_a: subscribed.set()
        client.subscribe(f"$share/hall/{topic_root}/+/telemetry", qos=1)
        if not subscribed.wait(10):
            raise SystemExit("no SUBACK within 10 s")
        return client

    with private_broker(settings) as broker:
        present = member("present", broker.port)
        _disconnect(member("away", broker.port))
        pub = _client(f"bench-device-{run}", clean_session=True)
        pub.max_inflight_messages_set(200)
        _connect(pub, broker.port)
        infos = [pub.publish(f"{topic_root}/dev-{seq % 50}/telemetry", payload(seq, size), qos=1)
                 for seq in range(messages)]
        for info in infos:
            info.wait_for_publish(timeout=30)
        _disconnect(pub)
        time.sleep(1.0)
        while_away = counts["present"]
        back = _client(f"bench-controller-away-{run}", clean_session=False)
        back.on_message = lambda *_a: counts.__setitem__("away", counts["away"] + 1)
        _connect(back, broker.port)
        time.sleep(1.5)
        _disconnect(back)
        _disconnect(present)
    return (f"shared subscription, 1 of 2 controllers away: the present one got {while_away}/"
            f"{messages}; {counts['away']} waited for the absent one until it came back")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="messages published while away")
    parser.add_argument("--size", type=int, default=120, help="approximate payload bytes")
    parser.add_argument("--conf", type=Path, default=HALL_CONF, help="the hall broker config")
    args = parser.parse_args()
    if not 1 <= args.messages <= 200_000:
        parser.error("--messages must be within 1..200000 (the run must stay short)")

    hall = hall_queue_settings(args.conf)
    small_bytes = 64 * 1024
    byte_bound = {**hall, "max_queued_bytes": str(small_bytes)}
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    version = subprocess.run([binary, "-h"], check=False, capture_output=True, text=True)
    print(f"mosquitto: {version.stdout.splitlines()[0]}")
    print(f"hall.conf queue settings ({args.conf}): "
          + ", ".join(f"{k}={v}" for k, v in hall.items()))
    print(f"{args.messages} QoS 1 messages of {len(payload(0, args.size))} bytes published "
          f"while the persistent subscriber is away\n")

    results = [
        run_scenario("stock", {}, args.messages, args.size),
        run_scenario("hall.conf", hall, args.messages, args.size),
        run_scenario("hall.conf + broker restart while away", hall, args.messages, args.size,
                     restart_while_away=True),
        run_scenario(f"hall.conf with max_queued_bytes={small_bytes}", byte_bound,
                     args.messages, args.size),
    ]
    for result in results:
        print(f"{result.line():<75} [{result.seconds:.1f} s, "
              f"broker RSS +{result.queued_rss_kib} KiB while queued]")
    print(run_shared_scenario(hall, min(args.messages, 1000), args.size))


if __name__ == "__main__":
    main()
