"""``python -m simulators.agent_process --emulate-hardware``: a kiosk in its own process with its
printer and card reader emulated on ptys takes tickets for swiped cards from the real controller
and prints them (its telemetry says so)."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from pathlib import Path

import pytest

from hall_controller.queue.model import ServiceDef
from hall_controller.queue.tickets import QueueSettings
from tests.support.controller import eventually, running_controller
from tests.support.hall_store import PostgresHallStore

pytestmark = pytest.mark.integration

QUEUE = QueueSettings(services=(ServiceDef("student-id", "学生证办理", "A"),))


async def test_a_kiosk_process_with_emulated_hardware_takes_and_prints_tickets_for_swipes(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore, tmp_path: Path) -> None:
    device_id = f"kiosk-{uuid.uuid4().hex[:6]}"
    command = [sys.executable, "-m", "simulators.agent_process", "--device-id", device_id, "--kind", "kiosk",
               "--broker-url", broker_url, "--prefix", topic_prefix, "--memory",
               "--telemetry-interval-s", "0.3", "--emulate-hardware", str(tmp_path / "hw"),
               "--swipe-every-s", "0.3", "--card-service", "student-id"]

    async def printed_some() -> bool:
        latest = {v.metric: v.value for v in (await hall_store.latest_values([device_id])).get(device_id, [])}
        taken, printed = latest.get("tickets_taken", 0), latest.get("tickets_printed", 0)
        return (isinstance(taken, int) and isinstance(printed, int) and printed >= 2
                and latest.get("printer_online") is True and latest.get("card_reader_online") is True)

    async with running_controller(broker_url, topic_prefix, hall_store, queue=QUEUE):
        process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.PIPE)
        try:
            await eventually(printed_some, 20, "tickets printed by the kiosk process")
        finally:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
        assert b"Traceback" not in stderr, stderr.decode()
