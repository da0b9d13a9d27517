"""The demo's alarm rules, written as facilities staff would write them on the rules page:
a kiosk running hot for five minutes, a burst of refused faces at one gate. The simulated
kiosks warm up with the queue (46 °C idle, up to 54 °C busy) and the gates refuse unknown
faces now and then, so both fire in a busy demo hall and clear again when it calms down."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from devices.contract import now_ms
from hall_controller.alarm_rules.model import RuleRefused
from hall_controller.alarm_rules.service import AlarmRuleService, DeviceDirectory
from hall_controller.kernel.errors import NotFound

logger = logging.getLogger(__name__)

DEMO_RULES: list[dict[str, Any]] = [
    {"id": "kiosk-hot", "name": "自助机过热 / kiosk running hot", "severity": "major",
     "target": {"devices": "*", "kind": "kiosk"},
     "condition": {"type": "above", "metric": "cpu_temp_c", "threshold": 52, "clear_at": 50,
                   "for_s": 300, "clear_for_s": 60},
     "message": {"zh-CN": "{device} 温度 {value}{unit}，超过 {threshold}{unit} 已 5 分钟",
                 "en": "{device} at {value} {unit}, above {threshold} {unit} for 5 min"}},
    {"id": "gate-refusals", "name": "闸机频繁拒绝 / many refusals at a gate", "severity": "minor",
     "target": {"devices": "*", "kind": "face_gate"},
     "condition": {"type": "event_count", "event": "access.denied", "at_least": 5,
                   "window_s": 600, "clear_after_s": 900},
     "message": {"zh-CN": "{device} {window} 秒内拒绝 {count} 次",
                 "en": "{count} refusals at {device} within {window} s"}},
]


async def ensure_demo_rules(rules: AlarmRuleService, devices: DeviceDirectory,
                            wait_s: float = 60.0) -> None:
    """Create the demo rules that do not exist yet, once the simulated kiosks and gates have
    announced themselves (a rule must select a device of the hall). Staff's later changes to
    them are kept: an existing rule is never overwritten."""
    deadline = asyncio.get_running_loop().time() + wait_s
    kinds = {"kiosk", "face_gate"}
    while {d.kind.value for d in devices.all()} & kinds != kinds:
        if asyncio.get_running_loop().time() > deadline:
            logger.warning("demo: no simulated kiosk or gate announced itself; no demo rules")
            return
        await asyncio.sleep(0.5)
    for body in DEMO_RULES:
        try:
            await rules.get_rule(body["id"])
            continue
        except NotFound:
            pass
        try:
            await rules.create(body, "demo", now_ms())
            logger.info("demo: alarm rule %s created", body["id"])
        except RuleRefused as exc:
            logger.warning("demo: alarm rule %s refused: %s", body["id"], exc.reason)
