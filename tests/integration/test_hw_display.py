"""A queue-display agent driving an emulated serial LED controller: the controller's
``display.call`` command appears on the panel; a panel that is unplugged refuses calls, raises
a hardware alarm, and is restored (call and list) by itself once it is back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from devices.hardware.settings import LedDisplaySettings
from devices.kinds import DeviceKind
from edge.agent import EdgeAgent
from edge.drivers.queue_display import HardwareQueueDisplay
from edge.settings import AgentSettings
from hall_controller.fleet.model import AlarmStatus, CommandStatus
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.runtime import HallController
from simulators.emulated import EmulatedLedController
from tests.support.controller import eventually, running_controller

pytestmark = pytest.mark.integration


@pytest.fixture
async def display(tmp_path: Path) -> AsyncIterator[tuple[EmulatedLedController, HardwareQueueDisplay]]:
    path = tmp_path / "led"
    settings = LedDisplaySettings(port=str(path), address=7, timeout_s=0.3, scroll_interval_s=0.2,
                                  reopen_initial_s=0.05, reopen_max_s=0.3)
    async with EmulatedLedController(path, address=7) as panel:
        yield panel, HardwareQueueDisplay(settings)


async def test_display_call_is_shown_on_the_led_panel_and_survives_an_unplug(
        broker_url: str, topic_prefix: str, store: PostgresStore,
        display: tuple[EmulatedLedController, HardwareQueueDisplay]) -> None:
    panel, driver = display
    device_id = f"display-{uuid.uuid4().hex[:6]}"
    agent = EdgeAgent(AgentSettings(device_id=device_id, kind=DeviceKind.QUEUE_DISPLAY,
                                    broker_url=broker_url, topic_prefix=topic_prefix, durable=False,
                                    telemetry_interval_s=0.5), driver)
    async with running_controller(broker_url, topic_prefix, store) as controller, agent:
        await agent.wait_connected(10)
        await eventually(lambda: _online(controller, device_id), 10, "the display registered")
        done = await controller.commands.send(device_id, "display.call", {"ticket": "A012", "window": 3},
                                              "test", timeout_s=5)
        assert done.status == CommandStatus.SUCCEEDED, done
        assert panel.call == ("A012", "3", "请 A012 号到 3 号窗口")
        listed = await controller.commands.send(
            device_id, "display.queue",
            {"area": "hall", "services": [{"service": "A", "next": ["A013", "A014"]}]}, "test", timeout_s=5)
        assert listed.status == CommandStatus.SUCCEEDED, listed
        assert panel.waiting == ["A A013 A014"]

        panel.port.unplug()
        refused = await controller.commands.send(device_id, "display.call", {"ticket": "A015", "window": 1},
                                                 "test", timeout_s=5)
        assert refused.status != CommandStatus.SUCCEEDED
        assert refused.error is not None and refused.error["code"] == "hardware_unavailable"
        await eventually(lambda: _alarm(store, device_id, "hardware.led_display", active=True), 10,
                         "the LED hardware alarm")

        panel.port.plug()
        panel.call, panel.waiting = None, []  # a panel back from a power cut shows nothing
        await eventually(lambda: _alarm(store, device_id, "hardware.led_display", active=False), 10,
                         "the LED hardware alarm cleared")
        await eventually(_shows(panel, ("A015", "1", "请 A015 号到 1 号窗口")), 5, "the call restored")
        assert panel.waiting == ["A A013 A014"]
        assert panel.bad_frames == 0


async def _online(controller: HallController, device_id: str) -> bool:
    record = controller.registry.get(device_id)
    return record is not None and record.online


async def _alarm(store: PostgresStore, device_id: str, type_: str, *, active: bool) -> bool:
    alarms = await store.list_alarms(AlarmStatus.ACTIVE, device_id=device_id)
    return any(a.type == type_ for a in alarms) == active


def _shows(panel: EmulatedLedController, call: tuple[str, str, str]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return panel.call == call
    return check
