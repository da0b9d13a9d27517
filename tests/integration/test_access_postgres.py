"""Access control on the controller: real Mosquitto, real PostgreSQL, the HTTP API, real photos.

Devices here are raw MQTT clients (a gate asking ``access.sync``, a lock reporting a forced
door, a lock checking signatures with the real verifier), so what is tested is the controller's
side of the contract: enrolment, rules compiled per device, refresh, signed unlock, alarms
from door events, the audit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devices.contract import Channel, Command, now_ms
from devices.policy_signing import verify_policy_reply
from devices.signing import CommandRejected, CommandVerifier, NonceCache, derive_device_key
from hall_controller.access.postgres_store import PostgresAccessStore
from hall_controller.access.service import AccessService
from hall_controller.fleet.model import Role
from hall_controller.runtime import HallController
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_app
from tests.support.controller import RawDevice, eventually, raw_device, running_controller
from tests.support.faces import photo_bytes, two_people_photo
from tests.support.hall_store import PostgresHallStore
from tests.unit.api_support import FAST_HASHER

pytestmark = pytest.mark.integration

MASTER = b"integration-test-master-secret-0123456789"


@contextlib.asynccontextmanager
async def hall(broker_url: str, prefix: str, store: PostgresHallStore
               ) -> AsyncIterator[tuple[HallController, httpx.AsyncClient, dict[str, str]]]:
    """A controller with access control, its API, and admin headers."""
    async with running_controller(broker_url, prefix, store,
                                  access=PostgresAccessStore(store.pool),
                                  command_secret=MASTER) as controller:
        app = api_app(store, controller.services.get(AccessService), commands=controller.commands)
        await ensure_user(store, "admin1", "admin-pass-1", Role.ADMIN, hasher=FAST_HASHER)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://hall/api/v1", timeout=30) as client:
            token = (await client.post("/auth/token", data={
                "username": "admin1", "password": "admin-pass-1"})).json()["access_token"]
            yield controller, client, {"Authorization": f"Bearer {token}"}


async def online(controller: HallController, device: RawDevice, kind: str) -> None:
    await device.birth(kind)

    async def registered() -> bool:
        record = controller.registry.get(device.device_id)
        return record is not None and record.online
    await eventually(registered, what=f"{device.device_id} online")


class Listener:
    """Collects what arrives on a device's cmd and res topics."""

    def __init__(self, device: RawDevice) -> None:
        self.device = device
        self.commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.replies: dict[str, dict[str, Any]] = {}
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        # aiomqtt's subscribe returns once the broker's SUBACK is in.
        await self.device.client.subscribe(self.device.topic(Channel.CMD), qos=1)
        await self.device.client.subscribe(self.device.topic(Channel.RES), qos=1)
        self.subscribed.set()
        async for message in self.device.client.messages:
            body = json.loads(bytes(message.payload))
            if str(message.topic).endswith("/cmd"):
                self.commands.put_nowait(body)
            else:
                self.replies[body["id"]] = body

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        await self.device.send(Channel.REQ, {"id": request_id, "method": method, "params": params})

        async def answered() -> bool:
            return request_id in self.replies
        await eventually(answered, what=f"reply to {method}")
        return self.replies.pop(request_id)

    async def next_command(self, method: str, timeout_s: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                command = await self.commands.get()
                if command["method"] == method:
                    return command


@contextlib.asynccontextmanager
async def listening(device: RawDevice) -> AsyncIterator[Listener]:
    listener = Listener(device)
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(10):
            await listener.subscribed.wait()  # subscribed before anything is sent
        yield listener
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_gate_syncs_only_the_people_allowed_there_with_their_faces(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    async with hall(broker_url, topic_prefix, hall_store) as (controller, api, admin), \
            raw_device(broker_url, topic_prefix, "gate-dorm-b3") as gate:
        await online(controller, gate, "face_gate")
        assert (await api.put("/access/persons/s2024001", headers=admin, json={
            "name": "奥巴马", "role": "student", "groups": ["dorm-b3"]})).status_code == 201
        await api.put("/access/persons/s2024002", headers=admin, json={
            "name": "拜登", "role": "student", "groups": ["dorm-b5"]})
        await api.put("/access/schedules/evenings", headers=admin, json={
            "windows": [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "06:00", "end": "23:30"}]})
        assert (await api.post("/access/rules", headers=admin, json={
            "group": "dorm-b3", "target": "gate-dorm-b3*", "schedule": "evenings"})).status_code == 201
        await api.post("/access/rules", headers=admin, json={
            "group": "dorm-b5", "target": "gate-dorm-b5*", "schedule": "always"})
        enrol = await api.post("/access/persons/s2024001/faces", headers=admin, files=[
            ("photos", ("a.jpg", photo_bytes("obama.jpg"), "image/jpeg")),
            ("photos", ("b.jpg", photo_bytes("obama2.jpg"), "image/jpeg"))])
        assert enrol.status_code == 200, enrol.text
        assert enrol.json() == {"person_id": "s2024001", "face_count": 2}
        await api.post("/access/persons/s2024002/faces", headers=admin, files=[
            ("photos", ("c.jpg", photo_bytes("biden.jpg"), "image/jpeg"))])

        async with listening(gate) as device:
            reply = await device.request("access.sync", {})
            assert reply["ok"], reply
            result = reply["result"]
            assert result["changed"] is True
            # Signed for this gate with its key: what the gate checks before applying it.
            gate_key = derive_device_key(MASTER, gate.device_id)
            assert verify_policy_reply(result, device_id=gate.device_id, key=gate_key, held_version=None,
                                       now_ms=now_ms()).version == result["version"]
            people = {p["person_id"]: p for p in result["policy"]["people"]}
            assert set(people) == {"s2024001"}  # the dorm-b5 student has no rule here
            assert people["s2024001"]["schedules"] == ["evenings"]
            assert set(result["policy"]["schedules"]) == {"evenings"}
            gallery = {p["person_id"]: p["embeddings"] for p in result["gallery"]["people"]}
            assert set(gallery) == {"s2024001"} and len(gallery["s2024001"]) == 2

            unchanged = (await device.request("access.sync",
                                              {"have_version": result["version"]}))["result"]
            assert verify_policy_reply(unchanged, device_id=gate.device_id, key=gate_key,
                                       held_version=result["version"], now_ms=now_ms()).news is False
            assert {k: v for k, v in unchanged.items() if k != "signature"} == {
                "version": result["version"], "changed": False}

            # Deleting the person: the gate is told to refresh, and the next sync drops them.
            assert (await api.delete("/access/persons/s2024001", headers=admin)).status_code == 204
            await device.next_command("access.refresh")
            after = (await device.request("access.sync", {"have_version": result["version"]})
                     )["result"]
            assert after["changed"] is True and after["policy"]["people"] == []
            assert after["gallery"]["people"] == []
        async with hall_store.pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT count(*) FROM face_embeddings WHERE person_id = 's2024001'")).fetchone()
        assert row == (0,)  # the embeddings are gone from the database too


async def test_bad_photos_and_bad_bodies_are_refused_with_the_reason(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    async with hall(broker_url, topic_prefix, hall_store) as (_, api, admin):
        await api.put("/access/persons/s1", headers=admin, json={"name": "A", "role": "student"})
        two = await api.post("/access/persons/s1/faces", headers=admin, files=[
            ("photos", ("ok.jpg", photo_bytes("obama.jpg"), "image/jpeg")),
            ("photos", ("two.jpg", two_people_photo(), "image/jpeg"))])
        assert two.status_code == 422
        assert two.json()["detail"].startswith("photo 2: several_faces")
        text = await api.post("/access/persons/s1/faces", headers=admin, files=[
            ("photos", ("x.jpg", b"not a picture at all", "image/jpeg"))])
        assert text.status_code == 422 and "not_an_image" in text.json()["detail"]
        person = (await api.get("/access/persons/s1", headers=admin)).json()
        assert person["face_count"] == 0  # nothing from the refused uploads was kept
        assert (await api.post("/access/persons/nobody/faces", headers=admin, files=[
            ("photos", ("a.jpg", photo_bytes("obama.jpg"), "image/jpeg"))])).status_code == 404

        visitor = await api.put("/access/persons/v1", headers=admin,
                                json={"name": "访客", "role": "visitor"})
        assert visitor.status_code == 422 and "expiry" in visitor.json()["detail"]
        assert (await api.put("/access/persons/s2", headers=admin,
                              json={"name": "B", "role": "janitor"})).status_code == 422
        assert (await api.put("/access/persons/s2", headers=admin,
                              json={"name": "B", "role": "staff", "colour": "red"})).status_code == 422
        bad_schedule = await api.put("/access/schedules/x", headers=admin, json={
            "windows": [{"days": [8], "start": "08:00", "end": "09:00"}]})
        assert bad_schedule.status_code == 422 and "days" in bad_schedule.json()["detail"]
        assert (await api.post("/access/rules", headers=admin, json={
            "group": "g", "target": "lock-1", "schedule": "no-such"})).status_code == 404
        await api.put("/access/schedules/nights", headers=admin, json={
            "windows": [{"days": [5], "start": "22:00", "end": "06:00"}]})
        await api.post("/access/rules", headers=admin, json={
            "group": "g", "target": "lock-*", "schedule": "nights"})
        in_use = await api.delete("/access/schedules/nights", headers=admin)
        assert in_use.status_code == 409 and "rule" in in_use.json()["detail"]
        assert (await api.post("/access/rules", headers=admin, json={
            "group": "g", "target": "Lock 1!", "schedule": "nights"})).status_code == 422


async def test_access_sync_refuses_what_is_not_an_access_device_or_not_a_version(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    async with hall(broker_url, topic_prefix, hall_store) as (controller, _, _admin), \
            raw_device(broker_url, topic_prefix, "kiosk-7") as kiosk, \
            raw_device(broker_url, topic_prefix, "lock-7") as lock:
        await online(controller, kiosk, "kiosk")
        await online(controller, lock, "door_lock")
        async with listening(kiosk) as device:
            refused = await device.request("access.sync", {})
        assert refused["ok"] is False and refused["error"]["code"] == "not_an_access_device"
        async with listening(lock) as device:
            bad = await device.request("access.sync", {"have_version": "41"})
            assert bad["ok"] is False and bad["error"]["code"] == "invalid_params"
            fine = await device.request("access.sync", {})
        assert fine["ok"] is True and "gallery" not in fine["result"]  # a lock has no camera


async def test_a_forced_door_raises_an_alarm_visible_through_the_api(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    """How fast: ``benchmarks/latency.py`` (door.forced → alarm in the API)."""
    async with hall(broker_url, topic_prefix, hall_store) as (controller, api, admin), \
            raw_device(broker_url, topic_prefix, "lock-b3-0412") as lock:
        await online(controller, lock, "door_lock")
        await lock.event("door.forced", {"contact": "open"})

        async def forced_alarm() -> list[dict[str, Any]]:
            alarms = (await api.get("/alarms", headers=admin)).json()
            return [a for a in alarms if a["type"] == "door.forced"]
        forced = await eventually(forced_alarm, what="the door.forced alarm in the API")
        assert forced[0]["device_id"] == "lock-b3-0412" and forced[0]["severity"] == "critical"

        # Held open raises a major alarm that the door closing clears by itself.
        await lock.event("door.held_open", {"open_s": 31})
        await lock.event("door.closed", {})

        async def cleared() -> bool:
            alarms = (await api.get("/alarms", headers=admin,
                                    params={"status": "cleared"})).json()
            return any(a["type"] == "door.held_open" for a in alarms)
        await eventually(cleared, what="held-open alarm cleared by door.closed")
        audit = (await api.get("/access/audit", headers=admin,
                               params={"device_id": "lock-b3-0412"})).json()["items"]
        assert {e["action"] for e in audit} >= {"door.forced", "door.held_open", "door.closed"}


async def test_remote_unlock_is_signed_for_that_lock_and_audited_with_its_outcome(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    async with hall(broker_url, topic_prefix, hall_store) as (controller, api, admin), \
            raw_device(broker_url, topic_prefix, "lock-b3-0101") as lock:
        await online(controller, lock, "door_lock")
        key = derive_device_key(MASTER, "lock-b3-0101")
        verifier = CommandVerifier(key, "lock-b3-0101", NonceCache())
        verdicts: list[str] = []

        async with listening(lock) as device:
            async def answer_like_a_lock() -> None:
                # The real verifier: a good command is executed, anything else refused.
                while True:
                    raw = await device.commands.get()
                    command = Command.model_validate(raw)
                    try:
                        verifier.verify(command)
                        verdicts.append("ok")
                        await lock.send(Channel.CMD_ACK, {"id": command.id, "ok": True,
                                                          "result": {"unlocked": True}})
                    except CommandRejected as exc:
                        verdicts.append(exc.code)
                        await lock.send(Channel.CMD_ACK, {"id": command.id, "ok": False, "error": {
                            "code": exc.code, "message": exc.message}})

            answering = asyncio.create_task(answer_like_a_lock())
            try:
                response = await api.post("/access/doors/lock-b3-0101/unlock", headers=admin,
                                          json={"duration_s": 5, "reason": "student locked out"})
                assert response.status_code == 200, response.text
                assert response.json()["status"] == "succeeded"
                no_reason = await api.post("/access/doors/lock-b3-0101/unlock", headers=admin,
                                           json={"duration_s": 5})
                assert no_reason.status_code == 422
                too_long = await api.post("/access/doors/lock-b3-0101/unlock", headers=admin,
                                          json={"duration_s": 3600, "reason": "x"})
                assert too_long.status_code == 422
            finally:
                answering.cancel()
        assert verdicts == ["ok"]

        commands = (await api.get("/devices/lock-b3-0101/commands", headers=admin)).json()
        assert commands[0]["method"] == "door.unlock"
        audit = (await api.get("/access/audit", headers=admin, params={
            "device_id": "lock-b3-0101", "category": "command"})).json()["items"]
        outcomes = [(e["action"], e["outcome"], e["actor"]) for e in audit]
        assert ("door.unlock", "succeeded", "user:admin1") in outcomes
        assert ("door.unlock", "requested", "user:admin1") in outcomes

        # A door command to something that is not a door is refused before it is sent.
        async with raw_device(broker_url, topic_prefix, "kiosk-9") as kiosk:
            await online(controller, kiosk, "kiosk")
            refused = await api.post("/access/doors/kiosk-9/unlock", headers=admin,
                                     json={"duration_s": 5, "reason": "x"})
            assert refused.status_code == 409
