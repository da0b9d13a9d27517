"""A simulated door lock in a real EdgeAgent on a real broker, commanded over its ``cmd`` topic:
a signed unlock opens it; forged, expired, unsigned and replayed ones are refused and it stays
locked."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from devices.contract import Command, now_ms
from devices.kinds import DeviceKind
from devices.signing import (
    SIGNED_TTL_MAX_MS,
    command_signature,
    derive_device_key,
    sign_command,
)
from edge.settings import AgentSettings
from hall_controller.access.postgres_store import PostgresAccessStore
from hall_controller.access.service import AccessService
from simulators.door_lock import SimulatedDoorLock
from tests.integration.test_edge_agent import (  # shared helpers and the per-test device id
    Watcher,
    device_id,
    running,
    settings_for,
)
from tests.support.controller import eventually, running_controller
from tests.support.hall_store import PostgresHallStore

pytestmark = pytest.mark.integration
__all__ = ["device_id"]  # a fixture, imported for pytest

MASTER = b"controller-master-secret-for-tests"


def door_command(method: str, params: dict[str, Any], expires_in_ms: int = 5_000) -> Command:
    return Command(id=str(uuid.uuid4()), method=method, params=params,
                   expires_at=now_ms() + expires_in_ms)


def wire(command: Command) -> str:
    return command.model_dump_json(exclude_none=True)


async def ack_of(watcher: Watcher, did: str, command: Command, nth: int = 1) -> Any:
    """The ``nth`` ack on the device's cmd/ack topic for this command id."""
    topic = f"dev/{did}/cmd/ack"
    await watcher.wait_for(
        topic, lambda _: sum(m.json().get("id") == command.id for m in watcher.on(topic)) >= nth)
    return [m.json() for m in watcher.on(topic) if m.json().get("id") == command.id][nth - 1]


def remote_events(watcher: Watcher, did: str) -> list[tuple[str, dict[str, Any]]]:
    """The events caused by remote unlocks (the simulator's own badge-ins are left out)."""
    found = []
    for message in watcher.on(f"dev/{did}/event"):
        body = message.json()
        data = body.get("data", {})
        if data.get("source") == "remote" or data.get("method") == "remote":
            found.append((body["type"], data))
    return found


def lock_settings(url: str, prefix: str, did: str, data_dir: Path,
                  key: bytes | None) -> AgentSettings:
    return dataclasses.replace(settings_for(url, prefix, did, data_dir),
                               kind=DeviceKind.DOOR_LOCK, command_key=key)


class QuietDoorLock(SimulatedDoorLock):
    """The simulated lock without its random visitors, so only the test's commands move it."""

    def step(self, dt: float) -> None:
        self.clock_s += dt
        self._record(self.door.tick(self.clock_s))


def lock_driver() -> SimulatedDoorLock:
    return QuietDoorLock("sim-lock", tick_s=0.05)  # a fast tick: a release ends promptly


async def test_only_a_genuine_signed_unlock_opens_the_door(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    key = derive_device_key(MASTER, device_id)
    settings = lock_settings(broker_url, topic_prefix, device_id, tmp_path, key)
    driver = lock_driver()
    cmd_topic = f"dev/{device_id}/cmd"
    async with Watcher(broker_url, topic_prefix) as watcher, running(settings, driver) as agent:
        forged = sign_command(door_command("door.unlock", {"duration_s": 1}), device_id,
                              derive_device_key(b"not-the-controller-secret", device_id))
        for_neighbour = sign_command(door_command("door.unlock", {"duration_s": 1}), "lock-other",
                                     derive_device_key(MASTER, "lock-other"))
        expired = sign_command(door_command("door.unlock", {"duration_s": 1}, expires_in_ms=-1_000),
                               device_id, key)
        too_far = sign_command(door_command("door.unlock", {"duration_s": 1},
                                            expires_in_ms=SIGNED_TTL_MAX_MS * 6), device_id, key)
        unsigned = door_command("door.unlock", {"duration_s": 1})
        lockdown_unsigned = door_command("door.set_mode", {"mode": "free_pass"})
        refusals = [(forged, "bad_signature"), (for_neighbour, "bad_signature"),
                    (expired, "expired"), (too_far, "expiry_too_far"), (unsigned, "unsigned"),
                    (lockdown_unsigned, "unsigned")]
        for command, _ in refusals:
            await watcher.publish(cmd_topic, wire(command))
        for command, code in refusals:
            ack = await ack_of(watcher, device_id, command)
            assert ack["ok"] is False
            assert ack["error"]["code"] == code, ack
            assert ack["error"]["message"]
        assert not driver.door.relay_released
        assert driver.door.mode.value == "normal"
        # Each refusal is reported as an access.denied event, so the controller audits a
        # forged command it never sent.
        await watcher.wait_for(f"dev/{device_id}/event", lambda e: len(
            [r for r in remote_events(watcher, device_id) if r[0] == "access.denied"])
            == len(refusals))
        denied = [(d["command_id"], d["reason"]) for t, d in remote_events(watcher, device_id)]
        assert denied == [(c.id, code) for c, code in refusals]

        genuine = sign_command(door_command("door.unlock", {"duration_s": 1}), device_id, key)
        await watcher.publish(cmd_topic, wire(genuine))
        ack = await ack_of(watcher, device_id, genuine)
        assert ack == {"id": genuine.id, "ok": True, "result": {"unlocked": True, "duration_s": 1.0}}
        await watcher.wait_for(f"dev/{device_id}/event",
                               lambda e: e["type"] == "access.granted"
                               and e["data"]["method"] == "remote")
        await watcher.wait_for(f"dev/{device_id}/event",
                               lambda e: e["type"] == "door.unlocked"
                               and e["data"]["source"] == "remote")
        await watcher.wait_for(f"dev/{device_id}/event", lambda e: e["type"] == "door.locked")
        assert not driver.door.relay_released

        # The same message again (a broker redelivery, or an attacker replaying it): the cached
        # ack, and the door does not unlock a second time.
        await watcher.publish(cmd_topic, wire(genuine))
        assert await ack_of(watcher, device_id, genuine, nth=2) == ack
        # The same nonce under a new id, even correctly signed: a replay.
        new_id = genuine.model_copy(update={"id": str(uuid.uuid4()), "signature": None})
        new_id = new_id.model_copy(update={"signature": command_signature(key, new_id, device_id)})
        await watcher.publish(cmd_topic, wire(new_id))
        replay_ack = await ack_of(watcher, device_id, new_id)
        assert replay_ack["error"]["code"] == "replayed"

        # access.refresh needs no signature.
        refresh = door_command("access.refresh", {})
        await watcher.publish(cmd_topic, wire(refresh))
        assert (await ack_of(watcher, device_id, refresh))["ok"] is True
        # The agent's events leave through its outbox in order: once a marker emitted now is
        # out, any door event of a second unlock would have been heard before it.
        await agent.emit_event("test.marker", {})
        await watcher.wait_for(f"dev/{device_id}/event", lambda e: e["type"] == "test.marker")

        assert not driver.door.relay_released
        unlocks = [e for e in remote_events(watcher, device_id) if e[0] == "door.unlocked"]
        assert len(unlocks) == 1
        assert agent.stats.commands.rejected_signed == 7
        assert agent.stats.commands.duplicates == 1


async def test_a_restarted_lock_refuses_a_replay_and_a_lock_without_a_key_refuses_all(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path
) -> None:
    key = derive_device_key(MASTER, device_id)
    settings = lock_settings(broker_url, topic_prefix, device_id, tmp_path, key)
    cmd_topic = f"dev/{device_id}/cmd"
    genuine = sign_command(door_command("door.set_mode", {"mode": "locked_down"}), device_id, key)
    async with Watcher(broker_url, topic_prefix) as watcher:
        async with running(settings, lock_driver()):
            await watcher.publish(cmd_topic, wire(genuine))
            assert (await ack_of(watcher, device_id, genuine))["result"]["mode"] == "locked_down"
        # After a restart the command-id cache is gone, but the nonce file is not.
        driver = lock_driver()
        async with running(settings, driver):
            await watcher.publish(cmd_topic, wire(genuine))
            replayed = await ack_of(watcher, device_id, genuine, nth=2)
            assert replayed["error"]["code"] == "replayed"
            assert driver.door.mode.value == "normal"

        keyless = lock_settings(broker_url, topic_prefix, device_id, tmp_path, None)
        driver = lock_driver()
        async with running(keyless, driver):
            signed = sign_command(door_command("door.unlock", {"duration_s": 1}), device_id, key)
            await watcher.publish(cmd_topic, wire(signed))
            ack = await ack_of(watcher, device_id, signed)
            assert ack["error"]["code"] == "no_key"
            assert not driver.door.relay_released
            ping = door_command("device.ping", {})
            await watcher.publish(cmd_topic, json.dumps(json.loads(wire(ping))))
            assert (await ack_of(watcher, device_id, ping))["ok"] is True


async def test_every_refused_unlock_is_in_the_access_audit(
    broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path, hall_store: PostgresHallStore
) -> None:
    """The whole path: a lock agent behind a running controller with access control. Forged,
    expired and replayed commands published straight to the lock (as an attacker would, not
    through the controller) are refused, and each refusal lands in the audit with its reason;
    the genuine unlock sent through the controller is audited with its outcome."""
    key = derive_device_key(MASTER, device_id)
    access = PostgresAccessStore(hall_store.pool)
    cmd_topic = f"dev/{device_id}/cmd"
    async with running_controller(broker_url, topic_prefix, hall_store, access=access,
                                  command_secret=MASTER) as controller, \
            Watcher(broker_url, topic_prefix) as watcher, \
            running(lock_settings(broker_url, topic_prefix, device_id, tmp_path, key),
                    lock_driver()):
        async def registered() -> bool:
            device = controller.registry.get(device_id)
            return device is not None and device.online
        await eventually(registered, what="the lock online")
        genuine = await controller.services.get(AccessService).unlock(device_id, 2, "user:fay", "locked out")
        assert genuine.status.value == "succeeded", genuine

        forged = sign_command(door_command("door.unlock", {"duration_s": 1}), device_id,
                              derive_device_key(b"an-attacker-guessing-secrets", device_id))
        expired = sign_command(door_command("door.unlock", {"duration_s": 1}, -1_000),
                               device_id, key)
        captured = sign_command(door_command("door.unlock", {"duration_s": 1}), device_id, key)
        replay = captured.model_copy(update={"id": str(uuid.uuid4()), "signature": None})
        replay = replay.model_copy(update={"signature": command_signature(key, replay, device_id)})
        for command in (forged, expired, captured, replay):
            await watcher.publish(cmd_topic, wire(command))

        async def audited() -> list[tuple[str, str | None]]:
            entries = await access.audit(device_id=device_id, person_id=None, category=None,
                                         before_id=None, limit=200)
            return [(e.outcome, e.reason) for e in reversed(entries)
                    if e.category.value == "decision" and e.action == "remote"]

        async def three_refusals() -> bool:
            # Each refusal once with its reason; the order the lock reports them in is not
            # what this is about.
            return sorted(r or "" for o, r in await audited() if o == "denied") == [
                "bad_signature", "expired", "replayed"]
        try:
            await eventually(three_refusals, what="the three refusals audited")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; audited: {await audited()}") from None
        commands = [(e.action, e.outcome, e.actor) for e in await access.audit(
            device_id=device_id, person_id=None, category=None, before_id=None, limit=200)
            if e.category.value == "command"]
        assert ("door.unlock", "succeeded", "user:fay") in commands
