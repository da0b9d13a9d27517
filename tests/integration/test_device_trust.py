"""The controller checks what devices claim instead of trusting the broker alone.

Real Mosquitto and PostgreSQL, the controller wired as ``hall controller`` wires it, raw MQTT
clients publishing as devices (as anything that can reach the broker can).
"""

from __future__ import annotations

import pytest

from devices.kinds import DeviceKind
from hall_controller.access.postgres_store import PostgresAccessStore
from hall_controller.access.rules import AuditCategory, Person, Role
from hall_controller.access.service import AccessService
from simulators.access_roster import simulated_roster
from simulators.door_lock import resident_cards
from simulators.face_gate import POPULATION
from simulators.fleet import fleet_plan
from tests.integration.test_access_postgres import online
from tests.support.controller import eventually, raw_device, running_controller
from tests.support.hall_store import PostgresHallStore

pytestmark = pytest.mark.integration


async def test_a_lock_that_re_births_as_a_face_gate_is_refused_and_alarmed(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    async with running_controller(broker_url, topic_prefix, hall_store,
                                  access=PostgresAccessStore(hall_store.pool)) as controller, \
            raw_device(broker_url, topic_prefix, "lock-b3-0412") as device:
        await online(controller, device, "door_lock")
        await device.birth("face_gate", session=2)

        async def alarmed() -> bool:
            alarms = await hall_store.list_alarms(device_id="lock-b3-0412")
            return any(a.type == "device.kind_mismatch" for a in alarms)
        await eventually(alarmed, what="device.kind_mismatch raised")

        [alarm] = [a for a in await hall_store.list_alarms(device_id="lock-b3-0412")
                   if a.type == "device.kind_mismatch"]
        assert alarm.details == {"recorded_kind": "door_lock", "claimed_kind": "face_gate"}
        letters = await hall_store.list_dead_letters(device_id="lock-b3-0412")
        assert [d.reason for d in letters] == [
            "kind_mismatch: lock-b3-0412 is recorded as door_lock, the birth says face_gate"]
        for record in (controller.registry.get("lock-b3-0412"),
                       {d.device_id: d for d in await hall_store.load_devices()}["lock-b3-0412"]):
            assert record is not None
            assert (record.kind, record.model, record.session) == (DeviceKind.DOOR_LOCK, "raw", 1)
        # Not a gate, so no gate's policy and gallery for it either.
        await device.birth("face_gate", session=3)

        async def counted_twice() -> bool:
            alarms = await hall_store.list_alarms(device_id="lock-b3-0412")
            return any(a.type == "device.kind_mismatch" and a.count == 2 for a in alarms)
        await eventually(counted_twice, what="the repeat counted on the same alarm")


async def test_a_forged_grant_is_audited_as_suspicious_and_alarmed_and_a_true_one_is_not(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    store = PostgresAccessStore(hall_store.pool)
    async with running_controller(broker_url, topic_prefix, hall_store,
                                  access=store) as controller, \
            raw_device(broker_url, topic_prefix, "gate-01") as gate:
        access = controller.services.get(AccessService)
        await access.save_person(Person("s2026001", "王小明", Role.STUDENT, groups=("students",),
                                        cards=("9001234567",)), "admin1")
        await access.add_rule("students", "gate-*", "always", "admin1")
        await online(controller, gate, "face_gate")

        allowed = await gate.event("access.granted", {"method": "face", "person_id": "s2026001",
                                                      "reason": "allowed"})
        by_card = await gate.event("access.granted", {"method": "card", "person_id": "s2026001",
                                                      "credential": "9001234567"})
        forged = await gate.event("access.granted", {"method": "face", "person_id": "nobody",
                                                     "reason": "allowed"})

        async def alarmed() -> bool:
            return any(a.type == "access.suspicious_grant"
                       for a in await hall_store.list_alarms(device_id="gate-01"))
        await eventually(alarmed, what="access.suspicious_grant raised")
        [alarm] = [a for a in await hall_store.list_alarms(device_id="gate-01")
                   if a.type == "access.suspicious_grant"]
        assert alarm.count == 1  # the two true grants (sent before it) raised nothing
        assert alarm.details["event_id"] == forged and alarm.details["person_id"] == "nobody"
        assert alarm.details["reason"] == "unknown_person"

        decisions = await access.audit(device_id="gate-01", category=AuditCategory.DECISION)
        outcomes = sorted((e.person_id, e.outcome, e.details.get("event_id")) for e in decisions)
        assert outcomes == sorted([
            ("s2026001", "granted", None), ("s2026001", "granted", None),
            ("nobody", "granted", None), ("nobody", "suspicious", forged)])
        assert {allowed, by_card}.isdisjoint(a.details.get("event_id") for a in
                                             await hall_store.list_alarms(device_id="gate-01"))


async def test_the_demo_enrols_its_simulated_people_once_and_their_grants_pass(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    roster = simulated_roster(fleet_plan(devices_per_kind=1))
    async with running_controller(broker_url, topic_prefix, hall_store,
                                  access=PostgresAccessStore(hall_store.pool)) as controller, \
            raw_device(broker_url, topic_prefix, "lock-01") as lock:
        access = controller.services.get(AccessService)
        assert await access.ensure_roster(roster.people, roster.rules, "demo") == \
            len(roster.people) + len(roster.rules)
        assert await access.ensure_roster(roster.people, roster.rules, "demo") == 0  # a restart
        assert len((await access.policy_for("gate-01")).people) == len(POPULATION)
        await online(controller, lock, "door_lock")
        [(card, resident), *_] = resident_cards("lock-01").items()
        await lock.event("access.granted", {"method": "card", "person_id": resident,
                                            "credential": card, "reason": "allow_list"})
        await lock.event("access.granted", {"method": "card", "person_id": "s20260001",
                                            "credential": "9999999"})

        async def alarmed() -> bool:
            return any(a.type == "access.suspicious_grant"
                       for a in await hall_store.list_alarms(device_id="lock-01"))
        await eventually(alarmed, what="the unknown card's grant alarmed")
        [alarm] = [a for a in await hall_store.list_alarms(device_id="lock-01")
                   if a.type == "access.suspicious_grant"]
        assert alarm.count == 1 and alarm.details["reason"] == "unknown_card"
