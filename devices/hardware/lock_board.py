"""RS-485 lock boards speaking Modbus RTU (framing, CRC and PDUs by pymodbus).

Register map of one board (docs/hardware.md):

| table | address | meaning |
|---|---|---|
| coils | 0-15 | relay n energised (read) |
| holding registers | 16 + n | write T: pulse relay n for T ms (1-65535), 0: release it now |
| discrete inputs | 0 / 1 / 2 | door contact open / tamper active / request-to-exit pressed |
| input registers | 0 / 1 | supply voltage / battery voltage, in 10 mV |

Several boards share one bus (``ModbusBus``, one port, one exchange at a time); each
``ModbusLockBoard`` is one address on it. The board, not the host, times a pulse, so a host
that crashes mid-pulse cannot leave a door unlocked.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pymodbus.exceptions import ModbusException
from pymodbus.framer.rtu import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import ReadDiscreteInputsRequest
from pymodbus.pdu.register_message import ReadInputRegistersRequest, WriteSingleRegisterRequest

from devices.hardware.errors import BadFrame, DeviceNotAnswering, HardwareError
from devices.hardware.link import SerialLink
from devices.hardware.ports import LOCK_BOARD, EventSink, LockInputs
from devices.hardware.settings import LockBoardSettings

logger = logging.getLogger(__name__)

RELAYS = 16
PULSE_REGISTER_BASE = 16
INPUT_DOOR_OPEN = 0
INPUT_TAMPER = 1
INPUT_EXIT_BUTTON = 2
INPUT_COUNT = 3
REGISTER_SUPPLY = 0
REGISTER_BATTERY = 1
VOLTS_PER_UNIT = 0.01
MAX_PULSE_MS = 65535


class BoardRefused(HardwareError):
    """The board answered with a Modbus exception."""


class ModbusBus:
    """One RS-485 port shared by the boards on it."""

    def __init__(self, settings: LockBoardSettings, events: EventSink, retries: int = 2) -> None:
        self.settings = settings
        self.link = SerialLink(LOCK_BOARD, settings, events, needs_answer=True)
        self.retries = retries
        self._line = asyncio.Lock()

    async def exchange(self, request: ModbusPDU) -> ModbusPDU:
        """Send ``request`` to its ``dev_id`` and return the board's answer (retried on silence)."""
        frame = FramerRTU(DecodePDU(is_server=False)).buildFrame(request)
        async with self._line:
            for _ in range(self.retries + 1):
                await self.link.discard_input()
                await self.link.write(frame)
                response = await self._response(request.dev_id)
                if response is not None:
                    await self.link.report_ok()
                    if isinstance(response, ExceptionResponse) or response.isError():
                        raise BoardRefused(f"board {request.dev_id}: exception {response.exception_code}")
                    return response
        await self.link.report_fault(f"board {request.dev_id} does not answer")
        raise DeviceNotAnswering(f"{self.link.port}: board {request.dev_id} does not answer")

    async def _response(self, address: int) -> ModbusPDU | None:
        framer = FramerRTU(DecodePDU(is_server=False))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.timeout_s
        buffer = b""
        while (left := deadline - loop.time()) > 0:
            buffer += await self.link.read(left)
            if not buffer:
                continue
            try:
                used, pdu = framer.handleFrame(buffer, address, 0)
            except ModbusException as exc:
                self.link.count_bad_frame(f"undecodable answer: {exc}")
                return None
            if pdu is not None:
                return pdu
            if used:
                # The framer threw the bytes away: a CRC error or an answer from another board.
                self.link.count_bad_frame(f"garbled answer {buffer[:used].hex()}")
                buffer = buffer[used:]
        if buffer:
            self.link.count_bad_frame(f"partial answer {buffer.hex()}")
        return None

    def close(self) -> None:
        """Close the port."""
        self.link.close()


class ModbusLockBoard:
    """A ``LockBoard`` at one address of a ``ModbusBus``."""

    def __init__(self, bus: ModbusBus, address: int) -> None:
        if not 1 <= address <= 247:
            raise ValueError("a Modbus RTU address is 1-247")
        self.bus = bus
        self.address = address

    def telemetry(self) -> dict[str, Any]:
        """``lock_board_online``, ``lock_board_bad_frames``."""
        return {"lock_board_online": self.bus.link.health.online,
                "lock_board_bad_frames": self.bus.link.health.bad_frames}

    async def pulse(self, relay: int, duration_ms: int) -> None:
        """Energise ``relay`` for ``duration_ms`` (timed by the board); 0 de-energises it now."""
        if not 0 <= relay < RELAYS or not 0 <= duration_ms <= MAX_PULSE_MS:
            raise ValueError(f"relay 0-{RELAYS - 1}, duration 0-{MAX_PULSE_MS} ms")
        await self.bus.exchange(WriteSingleRegisterRequest(
            address=PULSE_REGISTER_BASE + relay, registers=[duration_ms], dev_id=self.address))

    async def read_inputs(self) -> LockInputs:
        """Door contact, tamper and voltages."""
        bits = await self.bus.exchange(ReadDiscreteInputsRequest(
            address=INPUT_DOOR_OPEN, count=INPUT_COUNT, dev_id=self.address))
        registers = await self.bus.exchange(ReadInputRegistersRequest(
            address=REGISTER_SUPPLY, count=2, dev_id=self.address))
        if len(bits.bits) < INPUT_COUNT or len(registers.registers) < 2:
            self.bus.link.count_bad_frame("short answer")
            raise BadFrame(f"board {self.address}: short answer")
        return LockInputs(door_open=bool(bits.bits[INPUT_DOOR_OPEN]), tamper=bool(bits.bits[INPUT_TAMPER]),
                          exit_pressed=bool(bits.bits[INPUT_EXIT_BUTTON]),
                          supply_v=round(registers.registers[REGISTER_SUPPLY] * VOLTS_PER_UNIT, 2),
                          battery_v=round(registers.registers[REGISTER_BATTERY] * VOLTS_PER_UNIT, 2))
