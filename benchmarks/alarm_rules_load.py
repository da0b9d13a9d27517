"""The alarm rules the ingest benchmark runs with (``benchmarks/ingest.py``, "Alarm rules"
in docs/benchmarks.md), and the rule engine's cost alone."""

from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo

from hall_controller.alarm_rules.drafts import parse_rule
from hall_controller.alarm_rules.model import KNOWN_METRICS
from hall_controller.alarm_rules.rules import Device, RuleEngine


def bench_rules(count: int) -> list[dict[str, Any]]:
    """``count`` rules as a hall might have them: each over one tenth of the devices (by the
    id's last digit) and one metric the publishers send, most of them quiet, a few firing
    (the devices whose paper level is 0, the cpu_temp_c thresholds under 45.5 after 60 s).
    About 20 rules apply to each device, 4–8 to each of its metrics."""
    message = {"zh-CN": "{device} {rule}", "en": "{device} {rule}"}
    conditions = [
        lambda i: {"type": "above", "metric": "cpu_temp_c", "threshold": 40 + i % 9,
                   "clear_at": 39 + i % 9, "for_s": 60},
        lambda i: {"type": "below", "metric": "paper_level_pct", "threshold": 0.5,
                   "clear_at": 5},
        lambda i: {"type": "rate", "metric": "paper_level_pct", "per_min": 1000,
                   "clear_per_min": 500, "direction": "either"},
        lambda i: {"type": "equals", "metric": "printer_state", "value": "jam", "for_s": 30},
        lambda i: {"type": "no_data", "metric": "cpu_temp_c", "after_s": 300},
    ]
    return [{"id": f"bench-rule-{i:03d}", "name": f"bench rule {i}", "severity": "minor",
             "target": {"devices": f"bench-*{i % 10}"},
             "condition": conditions[(i // 10) % len(conditions)](i), "message": message}
            for i in range(count)]


def engine_cost(rules: int, devices: int, samples: int = 60_000) -> tuple[float, float]:
    """The rule engine alone, as the ingest path calls it: microseconds per telemetry point
    with ``rules`` rules and with none (the bench's messages, three points each)."""
    ids = [Device(f"bench-{i:05d}") for i in range(devices)]
    costs = []
    for count in (0, rules):
        engine = RuleEngine(ZoneInfo("Asia/Shanghai"), KNOWN_METRICS)
        engine.set_rules([parse_rule(body) for body in bench_rules(count)], 0)
        started = time.perf_counter()
        for n in range(samples // 3):
            device, ts = ids[n % devices], 1_000 + n
            engine.observe(device, "paper_level_pct", ts, n % 100)
            engine.observe(device, "printer_state", ts, "ok")
            engine.observe(device, "cpu_temp_c", ts, 45.5)
            if n % 1000 == 0:  # about once a second at the bench's rates, as the timer does
                engine.tick(ts)
        costs.append((time.perf_counter() - started) / samples * 1e6)
    return costs[0], costs[1]
