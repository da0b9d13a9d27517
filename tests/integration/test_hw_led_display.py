"""The LED display driver against an emulated LED controller on a pseudo-terminal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devices.hardware.errors import DeviceNotAnswering
from devices.hardware.led_display import DisplayRefused, SerialLedDisplay
from devices.hardware.led_frames import LedFrame
from devices.hardware.settings import LedDisplaySettings
from simulators.emulated import EmulatedLedController
from tests.integration.test_hw_lock_board import Recorder


@pytest.fixture
async def led(tmp_path: Path) -> AsyncIterator[tuple[EmulatedLedController, SerialLedDisplay, Recorder]]:
    path = tmp_path / "led"
    recorder = Recorder()
    async with EmulatedLedController(path, address=4) as panel:
        driver = SerialLedDisplay(LedDisplaySettings(port=str(path), address=4, timeout_s=0.2), recorder)
        try:
            yield panel, driver, recorder
        finally:
            driver.link.close()


async def test_a_call_a_list_and_brightness_reach_the_panel(led: Any) -> None:
    panel, driver, recorder = led
    await driver.show_call("A012", "3", "请 A012 号到 3 号窗口")
    await driver.show_waiting(["学生证办理 A013 A014", "宿舍事务 C002"])
    await driver.set_brightness(35)
    assert panel.call == ("A012", "3", "请 A012 号到 3 号窗口")
    assert panel.waiting == ["学生证办理 A013 A014", "宿舍事务 C002"]
    assert panel.brightness == 35
    assert recorder.events == [] and driver.telemetry() == {"led_display_online": True,
                                                            "led_display_bad_frames": 0}


async def test_a_garbled_ack_is_counted_and_the_frame_sent_again(led: Any) -> None:
    panel, driver, recorder = led
    panel.corrupt_answers = 1
    await driver.show_call("A001", "1", "x")
    assert panel.calls == [("A001", "1", "x"), ("A001", "1", "x")]  # shown twice: idempotent
    assert driver.telemetry()["led_display_bad_frames"] == 1
    assert recorder.events == []


async def test_a_silent_panel_is_reported_and_a_refused_frame_raises(led: Any) -> None:
    panel, driver, recorder = led
    with pytest.raises(ValueError, match="brightness"):
        await driver.set_brightness(101)
    # A payload the panel cannot decode (not GB18030): it answers nak.
    with pytest.raises(DisplayRefused, match="GB18030"):
        await driver._send(LedFrame(4, ord("C"), b"\xff\xff"))
    panel.port.silent = True
    with pytest.raises(DeviceNotAnswering):
        await driver.ping()
    assert recorder.types() == ["hardware.fault"]
    panel.port.silent = False
    await driver.ping()
    assert recorder.types() == ["hardware.fault", "hardware.recovered"]
