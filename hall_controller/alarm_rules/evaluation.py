"""Rules at work in the controller: the engine fed from the ingest path and a timer, its
raises and clears sent through the fleet's ``AlarmService``.

Ingest must not wait for alarms. ``on_telemetry`` runs on the ingest path after each commit,
but only judges samples in memory (a dict lookup per sample for metrics no rule watches); the
raises and clears it decides go into a queue that ``run`` empties through ``AlarmService``
(database writes) in a task of its own. The queue is not bounded: it holds state changes
(two per rule and device at most between two passes), never samples, and an alarm is never
dropped. ``tick`` (every second) lets durations, silences and quiet windows run out, raises
the built-in alarms whose tuned delay has passed, and reloads the rules when another
controller changed them (this controller's API reloads them at once, ``rules_changed``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from devices.contract import now_ms
from hall_controller.alarm_rules.builtin import Tuning, builtin_for
from hall_controller.alarm_rules.model import RULE_ALARM_PREFIX
from hall_controller.alarm_rules.ports import AlarmRuleStore
from hall_controller.alarm_rules.rules import Device, RuleEngine, Transition
from hall_controller.alarm_rules.service import DeviceDirectory, device_of
from hall_controller.fleet.alarms import AlarmService, Tuned
from hall_controller.fleet.model import (
    AlarmSeverity,
    DeviceEvent,
    LatestValue,
    TelemetryPoint,
)

logger = logging.getLogger(__name__)


class LatestValues(Protocol):
    async def latest_values(self, device_ids: list[str] | None = None
                            ) -> dict[str, list[LatestValue]]: ...

RULE_CLEARER = "rule"


class BuiltinTunings:
    """The fleet's ``AlarmTuning``: staff's changes to the built-in alarms, looked up by the
    alarm's type and the device's kind."""

    def __init__(self, devices: DeviceDirectory) -> None:
        self._devices = devices
        self._tunings: dict[str, Tuning] = {}

    def use(self, tunings: list[Tuning]) -> None:
        self._tunings = {t.builtin_id: t for t in tunings}

    def tune(self, device_id: str, type: str, severity: AlarmSeverity) -> Tuned | None:
        if not self._tunings:
            return Tuned(severity)
        record = self._devices.get(device_id)
        builtin = builtin_for(type, record.kind.value if record else "")
        tuning = None if builtin is None else self._tunings.get(builtin.id)
        if tuning is None:
            return Tuned(severity)
        if not tuning.enabled:
            return None
        return Tuned(tuning.severity or severity, float(tuning.delay_s))


@dataclass(slots=True)
class EvaluationCounters:
    samples: int = 0
    transitions: int = 0
    reloads: int = 0


class RuleEvaluation:
    def __init__(self, engine: RuleEngine, store: AlarmRuleStore, alarms: AlarmService,
                 devices: DeviceDirectory, tunings: BuiltinTunings, *,
                 latest: LatestValues | None = None, tick_s: float = 1.0,
                 reload_s: float = 5.0) -> None:
        """``latest``: the fleet's latest value per device and metric (``DeviceStore``), so
        that after a restart ``no_data`` rules count silences from the last stored sample."""
        self._engine = engine
        self._store = store
        self._alarms = alarms
        self._devices = devices
        self._tunings = tunings
        self._latest = latest
        self._tick_s = tick_s
        self._reload_every = max(1, round(reload_s / tick_s))
        self._decided: asyncio.Queue[Transition] = asyncio.Queue()
        self._known: dict[str, Device] = {}
        self._revision: str | None = None
        self._reloading = asyncio.Lock()
        self.counters = EvaluationCounters()

    # -- input -----------------------------------------------------------------------------

    def _device(self, device_id: str) -> Device:
        record = self._devices.get(device_id)
        known = self._known.get(device_id)
        if known is None or (record is not None and (known.kind, known.site) != (
                record.kind.value, record.site)):
            known = self._known[device_id] = device_of(self._devices, device_id)
        return known

    def on_telemetry(self, points: list[TelemetryPoint]) -> None:
        """The ingest pipeline's telemetry listener: judge in memory, hand on the changes."""
        engine = self._engine
        self.counters.samples += len(points)
        device_id, device = "", Device("")
        for point in points:
            if point.device_id != device_id:  # a message's points come together
                device_id, device = point.device_id, self._device(point.device_id)
            for transition in engine.observe(device, point.metric, point.ts_ms, point.value):
                self._decided.put_nowait(transition)

    async def on_event(self, event: DeviceEvent) -> None:
        """The ingest pipeline's event listener (new events only)."""
        for transition in self._engine.observe_event(self._device(event.device_id),
                                                     event.type, event.ts_ms):
            self._decided.put_nowait(transition)

    async def rules_changed(self) -> None:
        """A rule or tuning was stored here: judge by it from now on."""
        await self._reload()

    # -- state -----------------------------------------------------------------------------

    async def load(self) -> None:
        """Rules and tunings from the store; the rule alarms already active (raised before a
        restart) count as raised, so their clear condition ends them."""
        await self._reload()
        active = await self._alarms_store_active()
        for device_id, rule_id in active:
            self._engine.mark_active(rule_id, self._device(device_id))
        if self._latest is not None:
            for device_id, values in (await self._latest.latest_values()).items():
                for value in values:
                    self._engine.seed(self._device(device_id), value.metric, value.ts_ms)

    async def _alarms_store_active(self) -> list[tuple[str, str]]:
        return [(alarm.device_id, alarm.type[len(RULE_ALARM_PREFIX):])
                for alarm in await self._alarms.active(RULE_ALARM_PREFIX)]

    async def _reload(self) -> None:
        async with self._reloading:  # the timer's and an API change's, one after the other
            revision = await self._store.revision()
            rules = await self._store.list_rules()
            self._tunings.use(await self._store.list_tunings())
            for transition in self._engine.set_rules(rules, now_ms()):
                self._decided.put_nowait(transition)
            self._revision = revision
            self.counters.reloads += 1
        logger.info("alarm rules loaded: %d enabled of %d", len(self._engine.rules), len(rules))

    # -- the two tasks ---------------------------------------------------------------------

    async def run(self) -> None:
        """Send each decided raise or clear through ``AlarmService``, in order."""
        while True:
            transition = await self._decided.get()
            while True:
                try:
                    await self._apply(transition)
                    break
                except Exception:
                    # The loop boundary: the database may be away. The same one again shortly,
                    # before any later one: a raise and its clear must not swap places, and a
                    # raise that cannot be stored is retried rather than dropped.
                    logger.exception("alarm rule %s on %s not applied; retrying",
                                     transition.rule.id, transition.device.device_id)
                    await asyncio.sleep(1.0)

    async def _apply(self, transition: Transition) -> None:
        rule, device = transition.rule, transition.device
        if transition.raised:
            details = {"rule_id": rule.id, "rule_version": rule.version,
                       "message": transition.messages(), "at_ms": transition.at_ms,
                       **{k: v for k, v in transition.values.items()
                          if k in ("metric", "value", "unit", "threshold", "clear_at", "low",
                                   "high", "rate", "count", "window", "event", "after")}}
            await self._alarms.raise_alarm(device.device_id, rule.alarm_type, rule.severity,
                                           details)
        else:
            await self._alarms.clear(device.device_id, rule.alarm_type,
                                     by=f"{RULE_CLEARER}:{rule.id}")
        self.counters.transitions += 1

    async def tick_forever(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(self._tick_s)
            ticks += 1
            try:
                await self.tick(now_ms(), check_revision=ticks % self._reload_every == 0)
            except Exception:
                logger.exception("alarm rule tick failed; will retry")

    async def tick(self, at_ms: int, *, check_revision: bool = False) -> None:
        if check_revision and await self._store.revision() != self._revision:
            await self._reload()
        for transition in self._engine.tick(at_ms):
            self._decided.put_nowait(transition)
        await self._alarms.raise_due(at_ms)

    @property
    def backlog(self) -> int:
        """Raises and clears decided but not yet applied."""
        return self._decided.qsize()
