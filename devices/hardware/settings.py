"""Serial settings of a device host's hardware, as one pydantic tree (``[hardware]`` in config.toml)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Parity = Literal["N", "E", "O", "M", "S"]


class SerialPortSettings(BaseModel):
    """One serial port: where it is and how it is framed.

    ``port`` is a device path; prefer a stable udev name (``/dev/serial/by-id/...``), since a
    USB adapter that is unplugged and plugged back may come back as another ``ttyUSBn``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: str = Field(min_length=1)
    baudrate: int = Field(default=9600, gt=0, le=4_000_000)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Parity = "N"
    stopbits: Literal[1, 2] = 1
    timeout_s: float = Field(default=0.5, gt=0, le=30, description="how long to wait for an answer")
    write_timeout_s: float = Field(default=2.0, gt=0, le=60)
    reopen_initial_s: float = Field(default=0.2, gt=0, le=60, description="first reopen delay")
    reopen_max_s: float = Field(default=10.0, gt=0, le=600, description="reopen delay ceiling")

    @model_validator(mode="after")
    def _backoff_ordered(self) -> SerialPortSettings:
        if self.reopen_max_s < self.reopen_initial_s:
            raise ValueError("reopen_max_s must not be below reopen_initial_s")
        return self


class PrinterSettings(SerialPortSettings):
    """An ESC/POS thermal ticket printer."""

    poll_interval_s: float = Field(default=1.0, gt=0, le=60, description="paper status polling")
    print_attempts: int = Field(default=3, ge=1, le=20)
    retry_within_s: float = Field(default=60.0, gt=0, le=3600,
                                  description="give a ticket up (print_failed) after this long")


class CardReaderSettings(SerialPortSettings):
    """A campus card reader that sends framed card numbers."""

    debounce_s: float = Field(default=2.0, ge=0, le=60,
                              description="the same card within this time is one swipe")


class LockBoardSettings(SerialPortSettings):
    """An RS-485 bus of Modbus RTU lock boards; ``address`` is the board this door uses."""

    baudrate: int = Field(default=19200, gt=0, le=4_000_000)
    address: int = Field(default=1, ge=1, le=247, description="RS-485 (Modbus) address")
    relay: int = Field(default=0, ge=0, le=15, description="the relay wired to the strike")
    poll_interval_s: float = Field(default=0.2, gt=0, le=10)


class LedDisplaySettings(SerialPortSettings):
    """A serial LED controller (frame format in docs/hardware.md)."""

    address: int = Field(default=1, ge=0, le=255, description="controller address on the line")
    scroll_interval_s: float = Field(default=3.0, gt=0, le=60)


class HardwareSettings(BaseModel):
    """The serial hardware attached to one device host; absent parts are simply not driven."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    printer: PrinterSettings | None = None
    card_reader: CardReaderSettings | None = None
    lock_board: LockBoardSettings | None = None
    led_display: LedDisplaySettings | None = None
