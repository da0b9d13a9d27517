"""Serial settings: defaults, and the mistakes a config file makes refused with a reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from devices.hardware.settings import HardwareSettings, LockBoardSettings, PrinterSettings


def test_a_minimal_table_gets_sensible_defaults() -> None:
    settings = HardwareSettings.model_validate({
        "printer": {"port": "/dev/serial/by-id/usb-printer"},
        "lock_board": {"port": "/dev/ttyUSB1", "address": 12, "relay": 1}})
    assert settings.printer is not None and settings.printer.baudrate == 9600
    assert settings.printer.parity == "N" and settings.printer.print_attempts == 3
    assert settings.lock_board is not None and settings.lock_board.baudrate == 19200
    assert settings.card_reader is None and settings.led_display is None


@pytest.mark.parametrize(("table", "problem"), [
    ({"printer": {"port": "/dev/x", "baud": 9600}}, "extra"),
    ({"printer": {"port": ""}}, "at least 1"),
    ({"printer": {"port": "/dev/x", "parity": "X"}}, "parity"),
    ({"printer": {"port": "/dev/x", "baudrate": -1}}, "greater than 0"),
    ({"printer": {"port": "/dev/x", "reopen_initial_s": 5, "reopen_max_s": 1}}, "reopen_max_s"),
    ({"lock_board": {"port": "/dev/x", "address": 0}}, "greater than or equal to 1"),
    ({"lock_board": {"port": "/dev/x", "address": 248}}, "less than or equal to 247"),
    ({"card_reader": {"port": "/dev/x", "debounce_s": -1}}, "greater than or equal to 0"),
    ({"camera": {"port": "/dev/video0"}}, "extra"),
])
def test_a_wrong_table_is_refused_with_the_reason(table: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        HardwareSettings.model_validate(table)


def test_settings_are_frozen() -> None:
    printer = PrinterSettings(port="/dev/x")
    with pytest.raises(ValidationError):
        printer.port = "/dev/y"
    assert LockBoardSettings(port="/dev/x").relay == 0
