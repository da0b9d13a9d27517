"""Face check-in (无感签到): the hall-entrance gate recognises someone and the controller checks
their remote ticket in, or takes a ticket for their online case, and tells the gate's screen.

Real Mosquitto and PostgreSQL, the controller wired as ``hall controller`` wires it, a raw MQTT
gate reporting ``access.granted`` (the face-gate agent's own test covers the recognition).
"""

from __future__ import annotations

import pytest

from hall_controller.access.postgres_store import PostgresAccessStore
from hall_controller.access.rules import Person, Role
from hall_controller.access.service import AccessService
from hall_controller.cases.postgres_store import PostgresCaseStore
from hall_controller.cases.postgres_ticket_links import PostgresTicketCases
from hall_controller.cases.rules import Applicant, CaseInput, CaseStatus
from hall_controller.cases.service import CaseService
from hall_controller.queue.model import ServiceDef, TicketState
from hall_controller.queue.postgres_moves import PostgresTicketMoves
from hall_controller.queue.postgres_remote import PostgresRemoteTickets
from hall_controller.queue.remote_tickets import RemoteTicketService
from hall_controller.queue.tickets import QueueSettings, TicketService
from tests.integration.test_access_postgres import listening, online
from tests.support.controller import eventually, raw_device, running_controller
from tests.support.hall_store import PostgresHallStore

pytestmark = pytest.mark.integration

QUEUE = QueueSettings(services=(ServiceDef("student-id", "学生证办理", "A"),
                                ServiceDef("dorm", "宿舍事务", "C")))


async def test_the_entrance_gate_checks_people_in_by_face(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    cases = CaseService(PostgresCaseStore(hall_store.pool))
    await cases.upsert(CaseInput("C-7", "dorm", CaseStatus.AWAITING_VISIT,
                                 Applicant(person_id="s-case")))
    # Someone with a case but not enrolled at any gate: a grant naming them is forged.
    await cases.upsert(CaseInput("C-8", "dorm", CaseStatus.AWAITING_VISIT,
                                 Applicant(person_id="s-forged")))
    access = PostgresAccessStore(hall_store.pool)
    async with running_controller(
            broker_url, topic_prefix, hall_store, queue=QUEUE, checkin_gates=("gate-hall-*",),
            access=access, cases=cases, ticket_cases=PostgresTicketCases(hall_store.pool),
            moves=PostgresTicketMoves(hall_store.pool),
            remote_tickets=PostgresRemoteTickets(hall_store.pool)) as controller, \
            raw_device(broker_url, topic_prefix, "gate-hall-east") as gate, \
            raw_device(broker_url, topic_prefix, "gate-b3-east") as dorm_gate:
        remote = await controller.services.get(RemoteTicketService).take(
            "student-id", ("person_id", "s-remote"), caller="api_key:platform")
        assert remote.ticket.state is TicketState.AWAITING_CHECKIN
        # The people the gates let in are enrolled there (the controller checks every grant
        # against its own policy and alarms on one it does not contain).
        service = controller.services.get(AccessService)
        for person_id in ("s-remote", "s-case", "s-nothing"):
            await service.save_person(Person(person_id, person_id, Role.STUDENT,
                                             groups=("students",)), "admin1")
        await service.add_rule("students", "gate-*", "always", "admin1")
        await online(controller, gate, "face_gate")
        await online(controller, dorm_gate, "face_gate")

        async with listening(gate) as screen:
            # 1. Someone with a remote ticket: it is checked in, and the screen shows it.
            await gate.event("access.granted", {"method": "face", "person_id": "s-remote"})
            shown = await screen.next_command("gate.show")
            assert shown["params"]["ticket"] == remote.ticket.number

            async def checked_in() -> bool:
                ticket = await hall_store.get_ticket(remote.ticket.ticket_id)
                return ticket is not None and ticket.state is TicketState.WAITING
            await eventually(checked_in, what="remote ticket checked in")

            # 2. Someone whose online case needs a visit: a ticket for that service, linked.
            await gate.event("access.granted", {"method": "face", "person_id": "s-case"})
            shown = await screen.next_command("gate.show")
            number = shown["params"]["ticket"]
            assert number.startswith("C")
            case = await cases.get("C-7")
            assert len(case.linked_tickets) == 1

            # 3. The same person again (walked out and in): shown the same ticket, no second.
            await gate.event("access.granted", {"method": "face", "person_id": "s-case"})
            again = await screen.next_command("gate.show")
            assert again["params"]["ticket"] == number
            day = controller.services.get(TicketService).service_day(remote.ticket.issued_ms)
            dorm_tickets = await hall_store.list_tickets("dorm", day)
            assert [t.number for t in dorm_tickets] == [number]

            # 4. Nothing due, a card grant, or a dorm gate: no ticket.
            await gate.event("access.granted", {"method": "face", "person_id": "s-nothing"})
            await gate.event("access.granted", {"method": "card", "person_id": "s-case"})
            # 5. A grant the controller's policy does not contain: no ticket for their case.
            await gate.event("access.granted", {"method": "face", "person_id": "s-forged"})
        await dorm_gate.event("access.granted", {"method": "face", "person_id": "s-remote"})

        async def audited() -> bool:
            entries = await access.audit(device_id="gate-hall-east", person_id=None,
                                         category=None, before_id=None, limit=50)
            return len([e for e in entries if e.action == "face.checkin"]) == 5
        await eventually(audited, what="every face check-in audited")
        entries = await access.audit(device_id="gate-hall-east", person_id=None, category=None,
                                     before_id=None, limit=50)
        outcomes = [(e.person_id, e.outcome) for e in reversed(entries)
                    if e.action == "face.checkin"]
        assert outcomes == [("s-remote", "checked_in"), ("s-case", "ticket_issued"),
                            ("s-case", "already_queued"), ("s-nothing", "nothing_due"),
                            ("s-forged", "refused")]
        refused = next(e for e in entries
                       if e.person_id == "s-forged" and e.action == "face.checkin")
        assert refused.details["reason"] == "suspicious_grant"
        assert (await cases.get("C-8")).linked_tickets == []
        dorm_audit = await access.audit(device_id="gate-b3-east", person_id=None, category=None,
                                        before_id=None, limit=50)
        assert not [e for e in dorm_audit if e.action == "face.checkin"]
        # Only the forged grant raised the alarm.
        suspicious = [a for a in await hall_store.list_alarms()
                      if a.type == "access.suspicious_grant"]
        assert [(a.device_id, a.details["person_id"]) for a in suspicious] == [
            ("gate-hall-east", "s-forged")]
