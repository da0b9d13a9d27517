"""Alarms raised and cleared by what devices report: forced doors, tamper, paper out, ...

One table says which event raises which alarm (type, severity) and which event clears it. An
alarm is unique per device and type, so a redelivered or repeated event counts up the existing
alarm instead of opening another. Some alarms clear themselves (a held-open door once it
closes); others, such as a forced door, stay until a person clears them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.model import AlarmSeverity, DeviceEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Raise:
    alarm: str
    severity: AlarmSeverity


@dataclass(frozen=True, slots=True)
class Clear:
    alarms: tuple[str, ...]


RULES: dict[str, Raise | Clear] = {
    # Doors (door lock agents and gates).
    "door.forced": Raise("door.forced", AlarmSeverity.CRITICAL),        # cleared by staff
    "door.held_open": Raise("door.held_open", AlarmSeverity.MAJOR),
    "door.closed": Clear(("door.held_open",)),
    "lock.tamper": Raise("lock.tamper", AlarmSeverity.CRITICAL),        # cleared by staff
    "lock.battery_low": Raise("lock.battery_low", AlarmSeverity.MINOR),
    "lock.battery_ok": Clear(("lock.battery_low",)),
    # Kiosk ticket printers.
    "printer.paper_near_end": Raise("printer.paper_near_end", AlarmSeverity.MINOR),
    "printer.paper_out": Raise("printer.paper_out", AlarmSeverity.MAJOR),
    "printer.paper_ok": Clear(("printer.paper_out", "printer.paper_near_end")),
    "printer.print_failed": Raise("printer.print_failed", AlarmSeverity.MAJOR),
    # The simulated kiosk's older names for the same states.
    "printer.paper_low": Raise("printer.paper_near_end", AlarmSeverity.MINOR),
    "printer.refilled": Clear(("printer.paper_out", "printer.paper_near_end")),
    "printer.jam": Raise("printer.jam", AlarmSeverity.MAJOR),
    "printer.jam_cleared": Clear(("printer.jam",)),
}

# Serial hardware behind an agent: one alarm per part, e.g. hardware.printer.
HARDWARE_FAULT = "hardware.fault"
HARDWARE_RECOVERED = "hardware.recovered"
HARDWARE_PARTS = frozenset({"printer", "card_reader", "lock_board", "led_display", "camera"})


class DeviceAlarmRules:
    """An ingest event listener (``IngestPipeline.on_event``). Staff may tune each alarm's
    severity and delay, or turn it off (``AlarmService.raise_builtin``,
    ``alarm_rules/builtin.py``)."""

    def __init__(self, alarms: AlarmService) -> None:
        self._alarms = alarms

    async def __call__(self, event: DeviceEvent) -> None:
        rule = RULES.get(event.type)
        if isinstance(rule, Raise):
            await self._alarms.raise_builtin(event.device_id, rule.alarm, rule.severity,
                                             _details(event))
        elif isinstance(rule, Clear):
            for alarm in rule.alarms:
                await self._alarms.clear(event.device_id, alarm, by=event.device_id)
        elif event.type in (HARDWARE_FAULT, HARDWARE_RECOVERED):
            part = event.data.get("part")
            if not isinstance(part, str) or part not in HARDWARE_PARTS:
                logger.warning("%s from %s names no known part (%r); no alarm", event.type,
                               event.device_id, part, extra={"device_id": event.device_id})
                return
            if event.type == HARDWARE_FAULT:
                await self._alarms.raise_builtin(event.device_id, f"hardware.{part}",
                                                 AlarmSeverity.MAJOR, _details(event))
            else:
                await self._alarms.clear(event.device_id, f"hardware.{part}", by=event.device_id)


def _details(event: DeviceEvent) -> dict[str, object]:
    return {"event_id": event.event_id, "event_ts": event.ts_ms, **event.data}
