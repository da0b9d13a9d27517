"""What the hall's cryptography costs, one core, no I/O but the nonce file:

  1. a door command signed by the controller; verified by the lock with 5,000 nonces held in
     memory, and verified with the lock's nonce file (written on every accepted command);
  2. an ``access.sync`` reply signed by the controller and verified by a gate, for a gallery
     of 1,000 and of 10,000 people (one 128-float face embedding each, as on the wire);
  3. one Mosquitto ``$7$`` PBKDF2-SHA512 hash (10,000 rounds: a device's MQTT password when
     provisioned, and an embedded-broker login not yet in its 2 s cache);
  4. one argon2id hash (a staff login or a new password), with the parameters the hall uses.

docs/benchmarks.md and docs/security.md quote these figures.

    .venv/bin/python benchmarks/secrets_cost.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devices.contract import Command, now_ms
from devices.policy_signing import sign_policy_reply, verify_policy_reply
from devices.signing import CommandVerifier, NonceCache, sign_command
from hall_controller.fleet.provisioning import hash_mqtt_password
from hall_controller.users.service import default_hasher

DEVICE = "lock-01"
KEY = secrets.token_bytes(32)


def timed(what: Callable[[], Any], repeat: int) -> list[float]:
    """Seconds per call, ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        what()
        samples.append(time.perf_counter() - started)
    return samples


def line(label: str, samples: list[float], unit: str = "µs") -> str:
    scale = {"µs": 1e6, "ms": 1e3, "s": 1.0}[unit]
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (f"{label:<58} median {statistics.median(samples) * scale:8.1f} {unit}  "
            f"p95 {p95 * scale:8.1f} {unit}  (n={len(samples)})")


def unlock() -> Command:
    return Command(id=secrets.token_hex(8), method="door.unlock",
                   params={"duration_s": 5, "reason": "benchmark"}, expires_at=now_ms() + 8_000)


def command_figures(repeat: int) -> None:
    print(line("command: sign", timed(lambda: sign_command(unlock(), DEVICE, KEY), repeat)))

    held = NonceCache(capacity=10_000)
    for _ in range(5_000):
        held.check_and_remember(secrets.token_hex(16), now_ms() + 60_000)
    verifier = CommandVerifier(KEY, DEVICE, held)
    commands = [sign_command(unlock(), DEVICE, KEY) for _ in range(repeat)]
    feed = iter(commands)
    print(line("command: verify, 5,000 nonces held in memory",
               timed(lambda: verifier.verify(next(feed)), repeat)))

    with tempfile.TemporaryDirectory() as tmp:
        on_disk = NonceCache(path=Path(tmp) / "nonces.json")
        file_verifier = CommandVerifier(KEY, DEVICE, on_disk)
        feed = iter([sign_command(unlock(), DEVICE, KEY) for _ in range(repeat)])
        print(line("command: verify with the nonce file",
                   timed(lambda: file_verifier.verify(next(feed)), repeat)))


def gallery(people: int) -> dict[str, Any]:
    rng = random.Random(people)
    return {"version": 7, "persons": [
        {"person_id": f"s-{n:06d}", "embeddings": [[round(rng.uniform(-0.3, 0.3), 8)
                                                     for _ in range(128)]]}
        for n in range(people)]}


def policy_figures() -> None:
    for people, repeat in ((1_000, 10), (10_000, 3)):
        result = gallery(people)
        signed = sign_policy_reply(result, DEVICE, KEY, issued_at=now_ms())

        def sign(result: dict[str, Any] = result) -> None:
            sign_policy_reply(result, DEVICE, KEY, issued_at=now_ms())

        def verify(signed: dict[str, Any] = signed) -> None:
            verify_policy_reply(signed, device_id=DEVICE, key=KEY, held_version=None,
                                now_ms=now_ms())

        print(line(f"access.sync reply, {people:,} people: sign", timed(sign, repeat), "ms"))
        print(line(f"access.sync reply, {people:,} people: verify", timed(verify, repeat), "ms"))


def hash_figures() -> None:
    print(line("Mosquitto $7$ hash (PBKDF2-SHA512, 10,000 rounds)",
               timed(lambda: hash_mqtt_password(secrets.token_urlsafe(24)), 20), "ms"))
    hasher = default_hasher()
    print(line(f"argon2id hash (t={hasher.time_cost}, m={hasher.memory_cost} KiB, "
               f"p={hasher.parallelism})",
               timed(lambda: hasher.hash(secrets.token_urlsafe(12)), 10), "ms"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2_000, help="commands signed and verified")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    command_figures(args.repeat)
    policy_figures()
    hash_figures()


if __name__ == "__main__":
    main()
