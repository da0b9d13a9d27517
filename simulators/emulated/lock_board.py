"""Emulated RS-485 lock boards: a Modbus RTU slave per address on one pty (register map in
devices/hardware/lock_board.py). Framing, CRC and PDUs are pymodbus's."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException
from pymodbus.framer.rtu import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
from pymodbus.pdu.register_message import ReadInputRegistersResponse, WriteSingleRegisterResponse

from devices.hardware.lock_board import (
    INPUT_COUNT,
    MAX_PULSE_MS,
    PULSE_REGISTER_BASE,
    RELAYS,
    VOLTS_PER_UNIT,
)
from simulators.emulated.pty_port import EmulatedPort

READ_COILS, READ_INPUTS, READ_INPUT_REGISTERS, WRITE_REGISTER = 1, 2, 4, 6


@dataclass
class EmulatedLockBoard:
    """One board's inputs (set them) and relays (pulsed by the host)."""

    door_open: bool = False
    tamper: bool = False
    exit_pressed: bool = False
    supply_v: float = 12.0
    battery_v: float = 12.6
    pulses: list[tuple[int, int]] = field(default_factory=list)
    _energised_until: dict[int, float] = field(default_factory=dict)
    pulsed: asyncio.Event = field(default_factory=asyncio.Event)

    def relay_on(self, relay: int) -> bool:
        """Whether ``relay`` is energised now."""
        return time.monotonic() < self._energised_until.get(relay, 0.0)

    def pulse(self, relay: int, duration_ms: int) -> None:
        """What the board does on a pulse write (0: release now)."""
        self.pulses.append((relay, duration_ms))
        self._energised_until[relay] = time.monotonic() + duration_ms / 1000
        self.pulsed.set()

    def inputs(self) -> list[bool]:
        """Discrete inputs 0-2."""
        return [self.door_open, self.tamper, self.exit_pressed]

    def registers(self) -> list[int]:
        """Input registers 0-1 (10 mV units)."""
        return [round(self.supply_v / VOLTS_PER_UNIT), round(self.battery_v / VOLTS_PER_UNIT)]


class EmulatedLockBus:
    """An RS-485 bus: boards by address behind one emulated port; silent for unknown addresses."""

    def __init__(self, path: Path, addresses: tuple[int, ...] = (1,)) -> None:
        self.port = EmulatedPort(path, self._received)
        self.boards = {address: EmulatedLockBoard() for address in addresses}
        self.bad_frames = 0
        self.corrupt_answers = 0
        """How many of the next answers go out with a broken CRC (line noise)."""
        self._framer = FramerRTU(DecodePDU(is_server=True))
        self._buffer = b""

    async def __aenter__(self) -> EmulatedLockBus:
        self.port.plug()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.port.unplug()

    def _received(self, data: bytes) -> None:
        self._buffer += data
        while self._buffer:
            try:
                used, request = self._framer.handleFrame(self._buffer, 0, 0)
            except ModbusException:
                self.bad_frames += 1
                self._buffer = b""
                return
            if request is None:
                if used:
                    self.bad_frames += 1
                    self._buffer = self._buffer[used:]
                    continue
                return
            self._buffer = self._buffer[used:]
            board = self.boards.get(request.dev_id)
            if board is not None:
                response = self._handle(board, request)
                response.dev_id = request.dev_id
                frame = self._framer.buildFrame(response)
                if self.corrupt_answers > 0:
                    self.corrupt_answers -= 1
                    frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
                self.port.send(frame)

    def _handle(self, board: EmulatedLockBoard, request: ModbusPDU) -> ModbusPDU:
        fc, address, count = request.function_code, request.address, request.count
        if fc == READ_COILS and address + count <= RELAYS:
            return ReadCoilsResponse(bits=[board.relay_on(r) for r in range(address, address + count)])
        if fc == READ_INPUTS and address + count <= INPUT_COUNT:
            return ReadDiscreteInputsResponse(bits=board.inputs()[address:address + count])
        if fc == READ_INPUT_REGISTERS and address + count <= 2:
            return ReadInputRegistersResponse(registers=board.registers()[address:address + count])
        if fc == WRITE_REGISTER:
            relay = address - PULSE_REGISTER_BASE
            value = request.registers[0]
            if not 0 <= relay < RELAYS:
                return ExceptionResponse(fc, ExcCodes.ILLEGAL_ADDRESS)
            if not 0 <= value <= MAX_PULSE_MS:
                return ExceptionResponse(fc, ExcCodes.ILLEGAL_VALUE)
            board.pulse(relay, value)
            return WriteSingleRegisterResponse(address=address, registers=[value])
        if fc in (READ_COILS, READ_INPUTS, READ_INPUT_REGISTERS):
            return ExceptionResponse(fc, ExcCodes.ILLEGAL_ADDRESS)
        return ExceptionResponse(fc, ExcCodes.ILLEGAL_FUNCTION)
