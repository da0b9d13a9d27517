"""The campus card reader driver against an emulated reader on a pseudo-terminal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devices.hardware.card_frames import encode_card_frame
from devices.hardware.card_reader import SerialCardReader
from devices.hardware.settings import CardReaderSettings
from simulators.emulated import EmulatedCardReader
from tests.integration.test_hw_lock_board import Recorder
from tests.support.waiting import eventually


@pytest.fixture
async def reader(tmp_path: Path) -> AsyncIterator[tuple[EmulatedCardReader, SerialCardReader, Recorder]]:
    path = tmp_path / "card"
    recorder = Recorder()
    settings = CardReaderSettings(port=str(path), timeout_s=0.2, debounce_s=0.5, reopen_initial_s=0.05,
                                  reopen_max_s=0.2)
    async with EmulatedCardReader(path) as emulated:
        driver = SerialCardReader(settings, recorder)
        task = asyncio.create_task(driver.run())
        try:
            yield emulated, driver, recorder
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def next_card(driver: SerialCardReader, timeout_s: float = 2.0) -> str:
    return await asyncio.wait_for(driver.next_card(), timeout_s)


async def port_open(driver: SerialCardReader) -> None:
    """A talk-only reader is healthy once its port is open: bytes sent before are lost."""
    await eventually(lambda: driver.telemetry()["card_reader_online"], what="the reader's port open")


async def test_a_swipe_is_read_once_however_long_the_card_is_held(reader: Any) -> None:
    emulated, driver, _ = reader
    await port_open(driver)
    emulated.swipe("2023310456")
    emulated.swipe("2023310456")  # the reader repeats while the card lies on it
    emulated.swipe("1999000111")
    assert await next_card(driver) == "2023310456"
    assert await next_card(driver) == "1999000111"
    # Time itself is what is tested here: the same card reads again once the debounce window
    # (0.5 s from its last read, which is behind us) has passed.
    await asyncio.sleep(driver.settings.debounce_s)
    emulated.swipe("2023310456")  # a new swipe after the debounce window
    assert await next_card(driver) == "2023310456"
    assert driver.telemetry()["card_reader_online"] is True


async def test_garbled_and_cut_frames_are_counted_and_the_next_swipe_still_reads(reader: Any) -> None:
    emulated, driver, _ = reader
    await port_open(driver)
    good = encode_card_frame("2023310456")
    bad_checksum = good[:-2] + bytes([good[-2] ^ 0x01]) + good[-1:]
    emulated.send_raw(b"\xff\x00noise")
    emulated.send_raw(bad_checksum)
    emulated.send_raw(good[:5])  # the rest never comes
    # Dropped after a quiet read timeout; the swipe must not be taken for the rest of it.
    await eventually(lambda: driver.telemetry()["card_reader_bad_frames"] == 3,
                     what="the garbled, the bad checksum and the cut frame counted")
    emulated.swipe("1999000111")
    assert await next_card(driver) == "1999000111"
    assert driver.telemetry()["card_reader_bad_frames"] == 3


async def test_an_unplugged_reader_is_reported_and_reads_again_once_back(reader: Any) -> None:
    emulated, driver, recorder = reader
    await port_open(driver)
    emulated.port.unplug()
    await eventually(lambda: "hardware.fault" in recorder.types(), what="hardware.fault")
    assert driver.telemetry()["card_reader_online"] is False
    emulated.port.plug()
    await eventually(lambda: "hardware.recovered" in recorder.types(), what="hardware.recovered")
    emulated.swipe("2023310456")
    assert await next_card(driver) == "2023310456"
    # Read after the recovery: one report each, however many reopen attempts failed.
    assert recorder.types() == ["hardware.fault", "hardware.recovered"]
