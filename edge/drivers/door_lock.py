"""A door-lock agent's driver over a Modbus RTU lock board (and optionally a card reader),
with the door's decisions made by ``edge.door.DoorLogic``.

Every ``poll_interval_s`` the board's inputs are read into the logic: the door contact
(``door.opened`` / ``door.closed`` / ``door.forced`` / ``door.held_open``), the tamper switch,
the exit button (egress always releases) and the battery voltage (``lock.battery_low``). While
the logic wants the door released the strike relay is kept energised with short pulses that
the board times itself: if this host dies, the door locks again within ``hold_ms`` rather than
staying open. A remote ``door.unlock`` (signed; the agent checks the signature) pulses the
relay before it is acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from devices.cancellation import raise_if_cancelled
from devices.contract import now_ms
from devices.hardware.card_reader import SerialCardReader
from devices.hardware.errors import HardwareError
from devices.hardware.lock_board import ModbusBus, ModbusLockBoard
from devices.hardware.ports import CardReader, LockBoard, LockInputs
from devices.hardware.relay import EventRelay, drivers_telemetry
from devices.hardware.settings import HardwareSettings
from devices.kinds import DeviceKind
from edge.access_sync import AccessKeeper
from edge.door import AccessMethod, DoorConfig, DoorEvent, DoorLogic
from edge.driver import DeviceHandle, TelemetryScalar
from edge.errors import CommandRefused, UnknownMethod
from edge.params import number_param, text_param

logger = logging.getLogger(__name__)

UNLOCK_MAX_S = 3600.0
BATTERY_EMPTY_V = 10.5  # a 12 V sealed lead-acid backup battery
BATTERY_FULL_V = 12.7


def battery_pct(volts: float, empty_v: float = BATTERY_EMPTY_V, full_v: float = BATTERY_FULL_V) -> float:
    """A linear state-of-charge estimate, clamped to 0-100."""
    return round(min(100.0, max(0.0, (volts - empty_v) / (full_v - empty_v) * 100.0)), 1)


class HardwareDoor:
    """A ``DeviceDriver`` for a door with an RS-485 lock board."""

    kind: ClassVar[DeviceKind] = DeviceKind.DOOR_LOCK

    def __init__(self, hardware: HardwareSettings, *, door: DoorConfig | None = None,
                 allowed_cards: Mapping[str, str] | None = None, board: LockBoard | None = None,
                 card_reader: CardReader | None = None, clock: Callable[[], float] | None = None,
                 access: AccessKeeper | None = None) -> None:
        """``access``: the policy synced from the controller (``access.sync``), which decides
        cards; without it, ``allowed_cards`` (card number → person id) is a local allow-list.
        ``board`` and ``card_reader`` replace the serial drivers built from ``hardware`` (fakes
        in tests)."""
        if hardware.lock_board is None and board is None:
            raise ValueError("a hardware door needs a lock_board")
        self.events = EventRelay()
        settings = hardware.lock_board
        self.relay = settings.relay if settings is not None else 0
        self.poll_interval_s = settings.poll_interval_s if settings is not None else 0.2
        # Each keep-alive pulse outlasts a few polls, so one slow poll does not drop the strike.
        self.hold_ms = max(500, round(self.poll_interval_s * 4000))
        if board is None:
            assert settings is not None
            self._bus: ModbusBus | None = ModbusBus(settings, self.events)
            board = ModbusLockBoard(self._bus, settings.address)
        else:
            self._bus = None
        if card_reader is None and hardware.card_reader is not None:
            card_reader = SerialCardReader(hardware.card_reader, self.events)
        self.board = board
        self.card_reader = card_reader
        self._clock = clock or time.monotonic
        self._allowed = dict(allowed_cards or {})
        self.access = access
        self.logic = DoorLogic(door or DoorConfig(), authorize=self._authorize, now=self._now())
        self._pulse_ends_at = 0.0
        self._last_inputs: LockInputs | None = None
        self._exit_was_pressed = False
        self.polls_failed = 0

    def _now(self) -> float:
        return self._clock()

    def _authorize(self, method: AccessMethod, credential: str, now: float) -> tuple[bool, str | None, str]:
        if self.access is not None:
            if method is not AccessMethod.CARD:
                return False, None, "unsupported_method"
            return self.access.authorize_card(credential, now_ms())
        person = self._allowed.get(credential) if method is AccessMethod.CARD else None
        return (True, person, "allow_list") if person is not None else (False, None, "unknown_credential")

    def read_telemetry(self) -> Mapping[str, TelemetryScalar]:
        """Door state, relay, battery, board health."""
        values: dict[str, Any] = {"door_state": "open" if self.logic.door_open else "closed",
                                  "locked": not self.logic.relay_released, "mode": self.logic.mode.value,
                                  "tamper": self.logic.tamper_active}
        if self._last_inputs is not None:
            values |= {"supply_v": self._last_inputs.supply_v, "battery_v": self._last_inputs.battery_v}
        if self.logic.battery_pct is not None:
            values["battery_pct"] = self.logic.battery_pct
        return drivers_telemetry(values, self.board, self.card_reader)

    async def run(self, device: DeviceHandle) -> None:
        """Poll the board and drive the relay until cancelled."""
        await self.events.attach(device)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._poll_forever(device), name=f"{device.device_id}:lock-board")
                if self.access is not None:
                    tasks.create_task(self.access.keep_synced(device),
                                      name=f"{device.device_id}:access-sync")
                if self.card_reader is not None:
                    tasks.create_task(self.card_reader.run(), name=f"{device.device_id}:card-reader")
                    tasks.create_task(self._serve_cards(self.card_reader), name=f"{device.device_id}:cards")
        finally:
            self.events.detach()
            if self._bus is not None:
                self._bus.close()

    async def _poll_forever(self, device: DeviceHandle) -> None:
        while True:
            raise_if_cancelled()  # a stop swallowed by a timeout (devices/cancellation.py)
            try:
                await self.poll_once()
            except HardwareError:
                self.polls_failed += 1  # reported by the link (hardware.fault); next poll retries
            except Exception:
                self.polls_failed += 1
                logger.exception("%s: lock board poll failed", device.device_id)
            await asyncio.sleep(self.poll_interval_s)

    async def poll_once(self) -> None:
        """One round: inputs into the logic, then the relay as the logic wants it."""
        inputs = await self.board.read_inputs()
        self._last_inputs = inputs
        now = self._now()
        events: list[DoorEvent] = []
        if inputs.exit_pressed and not self._exit_was_pressed:
            events += self.logic.request_to_exit(now)
        self._exit_was_pressed = inputs.exit_pressed
        events += self.logic.contact(inputs.door_open, now)
        events += self.logic.tamper(inputs.tamper, now)
        events += self.logic.battery(battery_pct(inputs.battery_v), now)
        events += self.logic.tick(now)
        await self._emit(events)
        await self._drive_relay()

    async def _drive_relay(self) -> None:
        now = self._now()
        if self.logic.relay_released:
            # Renew before the board's pulse runs out (within the next two polls).
            if self._pulse_ends_at - now < 2 * self.poll_interval_s:
                await self.board.pulse(self.relay, self.hold_ms)
                self._pulse_ends_at = now + self.hold_ms / 1000
        elif self._pulse_ends_at > now:
            await self.board.pulse(self.relay, 0)  # locked early (lockdown): drop the strike now
            self._pulse_ends_at = 0.0

    async def _serve_cards(self, reader: CardReader) -> None:
        while True:
            raise_if_cancelled()  # a stop swallowed by a timeout (devices/cancellation.py)
            card = await reader.next_card()
            await self._emit(self.logic.present_credential(AccessMethod.CARD, card, self._now()))
            try:
                await self._drive_relay()
            except HardwareError as exc:
                logger.warning("card accepted but the lock board is away: %s", exc)

    async def _emit(self, events: list[DoorEvent]) -> None:
        for type_, data in events:
            await self.events(type_, data)

    async def handle_command(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``door.unlock {"duration_s"}``, ``door.set_mode {"mode"}``, ``device.ping``."""
        if method == "device.ping":
            return {"pong": now_ms()}
        if method == "access.refresh":
            if self.access is None:
                raise UnknownMethod(method)
            self.access.refresh()
            return {"syncing": True, "have_version": self.access.version}
        if method == "door.unlock":
            duration = number_param(params, "duration_s", 1.0, UNLOCK_MAX_S, default=5.0)
            events = self.logic.grant(AccessMethod.REMOTE, self._now(), duration_s=duration,
                                      reason="remote_command")
            await self._emit(events)
            if any(type_ == "access.denied" for type_, _ in events):
                raise CommandRefused("locked_down", "the door is in lockdown; remote unlock refused")
            await self._relay_now()
            return {"unlocked": True, "duration_s": duration}
        if method == "door.set_mode":
            try:
                await self._emit(self.logic.set_mode(text_param(params, "mode", 32), self._now()))
            except ValueError as exc:
                raise CommandRefused("invalid_params", str(exc)) from None
            await self._relay_now()
            return {"mode": self.logic.mode.value, "locked": not self.logic.relay_released}
        raise UnknownMethod(method)

    async def _relay_now(self) -> None:
        try:
            await self._drive_relay()
        except HardwareError as exc:
            raise CommandRefused("hardware_unavailable", f"lock board: {exc}") from exc
