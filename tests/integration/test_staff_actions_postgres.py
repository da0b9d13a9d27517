"""What facilities staff do by hand, through the HTTP API over a running controller (real
Mosquitto, real PostgreSQL): clearing alarms (never one whose cause still holds, a critical one
only with a note, kept with the alarm), rebooting (only with a note, kept in the command
history), and the command history without the controller's own commands."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devices.contract import Channel
from hall_controller.fleet.model import Role
from hall_controller.runtime import HallController
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.support.controller import RawDevice, eventually, raw_device, running_controller
from tests.support.hall_store import PostgresHallStore
from tests.unit.api_support import FAST_HASHER

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def hall(broker_url: str, prefix: str, store: PostgresHallStore
               ) -> AsyncIterator[tuple[HallController, httpx.AsyncClient, dict[str, str]]]:
    """A controller, its API, and the headers of a facilities user."""
    async with running_controller(broker_url, prefix, store) as controller:
        app = api_app(store, commands=controller.commands)
        await ensure_user(store, "fay", "facilities-pass-1", Role.FACILITIES, hasher=FAST_HASHER)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://hall/api/v1", timeout=30) as client:
            token = (await client.post("/auth/token", data={
                "username": "fay", "password": "facilities-pass-1"})).json()["access_token"]
            yield controller, client, {"Authorization": f"Bearer {token}"}


async def online(controller: HallController, device: RawDevice, kind: str) -> None:
    await device.birth(kind)

    async def registered() -> bool:
        record = controller.registry.get(device.device_id)
        return record is not None and record.online
    await eventually(registered, what=f"{device.device_id} online")


async def alarm_of(api: httpx.AsyncClient, headers: dict[str, str], device_id: str, type: str,
                   status: str = "active") -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        alarms = (await api.get("/alarms", headers=headers, params={
            "device_id": device_id, "status": status})).json()
        return next((a for a in alarms if a["type"] == type), None)
    alarm: dict[str, Any] = await eventually(found, what=f"{status} {type} on {device_id}")
    return alarm


async def test_an_offline_alarm_is_not_cleared_while_the_device_is_still_offline(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    async with hall(broker_url, topic_prefix, hall_store) as (controller, api, fay), \
            raw_device(broker_url, topic_prefix, "lock-off-1") as lock:
        await online(controller, lock, "door_lock")
        # The lock's last will, as the broker sends it when the lock loses power.
        await lock.send(Channel.STATE, {"online": False, "session": 1}, retain=True)
        offline = await alarm_of(api, fay, "lock-off-1", "device.offline")
        assert offline["severity"] == "critical"  # a lock that cannot be reached

        # Critical: a clear without a note of what was found is refused first.
        for body in (None, {"note": "   "}):
            refused = await api.post(f"/alarms/{offline['id']}/clear", headers=fay, json=body)
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "note.required"
            assert refused.json()["params"]["field"] == "note"
        # With a note, it is still refused: the lock is still away.
        refused = await api.post(f"/alarms/{offline['id']}/clear", headers=fay,
                                 json={"note": "checked the corridor"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "alarm.condition_holds"
        assert refused.json()["params"]["condition"] == "device_offline"
        assert (await api.get(f"/alarms/{offline['id']}", headers=fay)).json()["status"] == "active"

        # Back online: the controller clears it by itself.
        await online(controller, lock, "door_lock")
        cleared = await alarm_of(api, fay, "lock-off-1", "device.offline", status="cleared")
        assert cleared["cleared_by"] == "system" and cleared["cleared_note"] is None


async def test_a_held_open_door_is_cleared_only_once_the_lock_reports_it_closed(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    async with hall(broker_url, topic_prefix, hall_store) as (controller, api, fay), \
            raw_device(broker_url, topic_prefix, "lock-held-1") as lock:
        await online(controller, lock, "door_lock")
        await lock.telemetry({"door_state": "open", "battery_pct": 80})
        await lock.event("door.held_open", {"open_s": 31})
        held = await alarm_of(api, fay, "lock-held-1", "door.held_open")

        async def door_state() -> object:
            device = (await api.get("/devices/lock-held-1", headers=fay)).json()
            return device["latest"].get("door_state", {}).get("value")
        await eventually(lambda: _equals(door_state, "open"), what="door_state open stored")
        refused = await api.post(f"/alarms/{held['id']}/clear", headers=fay)
        assert refused.status_code == 409, refused.text
        assert refused.json() | {"detail": ""} == {
            "detail": "", "code": "alarm.condition_holds", "params": {"condition": "door_open"}}

        # The door is closed (the lock's report lost its door.closed event, say): now it clears,
        # without a note (a held-open door is major, not critical).
        await lock.telemetry({"door_state": "closed"})
        await eventually(lambda: _equals(door_state, "closed"), what="door_state closed stored")
        cleared = await api.post(f"/alarms/{held['id']}/clear", headers=fay)
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["status"] == "cleared" and cleared.json()["cleared_by"] == "fay"


async def _equals(read: Any, wanted: object) -> bool:
    return bool(await read() == wanted)


async def test_a_forced_door_is_cleared_with_a_note_kept_in_the_alarm_history(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    async with hall(broker_url, topic_prefix, hall_store) as (controller, api, fay), \
            raw_device(broker_url, topic_prefix, "lock-forced-1") as lock:
        await online(controller, lock, "door_lock")
        await lock.event("door.forced", {"contact": "open"})
        forced = await alarm_of(api, fay, "lock-forced-1", "door.forced")
        path = f"/alarms/{forced['id']}/clear"

        assert (await api.post(path, headers=fay)).json()["code"] == "note.required"
        too_long = await api.post(path, headers=fay, json={"note": "x" * 501})
        assert too_long.status_code == 422
        assert too_long.json()["detail"][0]["loc"] == ["body", "note"]
        unknown_field = await api.post(path, headers=fay, json={"note": "ok", "force": True})
        assert unknown_field.status_code == 422
        nul = await api.post(path, headers=fay, json={"note": "门\x00框"})
        assert nul.status_code == 422 and nul.json()["detail"][0]["loc"] == ["body", "note"]

        cleared = await api.post(path, headers=fay, json={"note": "  门框被撬，已报保卫处  "})
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["cleared_note"] == "门框被撬，已报保卫处"
        # Clearing again changes nothing: the first note stays.
        again = await api.post(path, headers=fay, json={"note": "another"})
        assert again.status_code == 200 and again.json()["cleared_note"] == "门框被撬，已报保卫处"
        history = (await api.get("/alarms", headers=fay, params={
            "device_id": "lock-forced-1", "status": "cleared"})).json()
        assert [(a["type"], a["cleared_by"], a["cleared_note"]) for a in history] == [
            ("door.forced", "fay", "门框被撬，已报保卫处")]


async def test_a_reboot_needs_a_note_and_the_history_can_leave_out_automatic_commands(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    async with hall(broker_url, topic_prefix, hall_store) as (controller, api, fay), \
            raw_device(broker_url, topic_prefix, "display-9") as display:
        await online(controller, display, "queue_display")
        commands = "/devices/display-9/commands"
        refused = await api.post(commands, headers=fay, json={"method": "device.reboot",
                                                              "wait": False})
        assert refused.status_code == 422 and refused.json()["code"] == "note.required"
        assert (await api.get(commands, headers=fay)).json() == []  # nothing was sent

        sent = await api.post(commands, headers=fay, json={
            "method": "device.reboot", "wait": False, "note": "屏幕花屏"})
        assert sent.status_code == 202, sent.text
        # Then the controller's own commands, as the queue sends them every few seconds (and
        # as it named itself before migration 0019).
        for requester in ("system:queue-display", "clerk-service", "system:queue-display"):
            await controller.commands.send("display-9", "display.queue", {"area": "main"},
                                           requester, wait=False)

        everything = (await api.get(commands, headers=fay)).json()
        assert [c["method"] for c in everything] == ["display.queue"] * 3 + ["device.reboot"]
        assert [c["automatic"] for c in everything] == [True, True, True, False]
        # Without the automatic ones, even one row is the reboot (filtered by the database,
        # so a limit never fills up with calls).
        staff = (await api.get(commands, headers=fay,
                               params={"automatic": "false", "limit": 1})).json()
        assert [(c["method"], c["requested_by"], c["note"]) for c in staff] == [
            ("device.reboot", "fay", "屏幕花屏")]
        # The audit's entry for the reboot carries the note as its reason.
        async with hall_store.pool.connection() as conn:
            audit = await (await conn.execute(
                "SELECT actor, reason FROM access_audit WHERE device_id = 'display-9' "
                "AND action = 'device.reboot' AND outcome = 'requested'")).fetchall()
        assert audit == [("fay", "屏幕花屏")]
        bad = await api.get(commands, headers=fay, params={"automatic": "sometimes"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["query", "automatic"]
