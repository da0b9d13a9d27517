"""ticket.take with an identity links the visitor's open online cases: a raw MQTT kiosk, a
real broker, the controller over PostgreSQL, cases in the same database."""

from __future__ import annotations

import pytest

from hall_controller.cases.postgres_store import PostgresCaseStore
from hall_controller.cases.postgres_ticket_links import PostgresTicketCases
from hall_controller.cases.rules import Applicant, CaseInput, CaseStatus, Material
from hall_controller.cases.service import CaseService
from hall_controller.queue.model import ServiceDef
from hall_controller.queue.tickets import QueueSettings
from tests.support.controller import running_controller
from tests.support.hall_store import PostgresHallStore
from tests.support.kiosks import raw_kiosks

pytestmark = pytest.mark.integration

QUEUE = QueueSettings(services=(ServiceDef("student-id", "学生证办理", "A"),
                                ServiceDef("dorm", "宿舍事务", "C")))


async def test_an_identified_visitor_gets_their_open_case_linked_to_the_ticket(
        broker_url: str, topic_prefix: str, hall_store: PostgresHallStore) -> None:
    cases = CaseService(PostgresCaseStore(hall_store.pool))
    person = Applicant(person_id="p-2023001", campus_card="2023001", name="李华")
    await cases.upsert(CaseInput("C-1", "student-id", CaseStatus.AWAITING_VISIT, person,
                                 (Material("photo", "一寸照片"),)))
    # Not linked: another service, and one still in review online (no trip needed).
    await cases.upsert(CaseInput("C-2", "dorm", CaseStatus.AWAITING_VISIT, person))
    await cases.upsert(CaseInput("C-3", "student-id", CaseStatus.IN_REVIEW, person))

    async with (running_controller(broker_url, topic_prefix, hall_store, queue=QUEUE,
                                   cases=cases,
                                   ticket_cases=PostgresTicketCases(hall_store.pool)),
                raw_kiosks(broker_url, topic_prefix, 1) as [kiosk]):
        reply = await kiosk.take("student-id",
                                 identity={"type": "person_id", "value": "p-2023001"})
        assert reply.body["ok"], reply.body
        result = reply.body["result"]
        assert result["cases"] == [{
            "case_id": "C-1", "service": "student-id", "status": "awaiting_visit",
            "materials": [{"code": "photo", "name": "一寸照片", "received": False}]}]

        # The kiosk resends the same request (no answer seen): same ticket, linked once.
        again = await kiosk.request("ticket.take", {
            "service": "student-id", "identity": {"type": "person_id", "value": "p-2023001"}},
            request_id=reply.request_id)
        assert again.body["result"]["ticket_id"] == result["ticket_id"]
        assert again.body["result"]["cases"] == result["cases"]

        # A campus card finds the same person's case; a stranger gets a ticket and no case.
        by_card = await kiosk.take("student-id",
                                   identity={"type": "campus_card", "value": "2023001"})
        assert [c["case_id"] for c in by_card.body["result"]["cases"]] == ["C-1"]
        stranger = await kiosk.take("student-id",
                                    identity={"type": "person_id", "value": "p-nobody"})
        assert stranger.body["ok"] and stranger.body["result"]["cases"] == []

    linked = await cases.get("C-1")
    assert linked.linked_tickets == [result["ticket_id"], by_card.body["result"]["ticket_id"]]
    feed = await cases.events_after(0, 100, "C-1")
    links = [e for e in feed.events if e.type == "case.ticket_linked"]
    assert [e.data for e in links] == [
        {"ticket_id": result["ticket_id"], "ticket": result["ticket"]},
        {"ticket_id": by_card.body["result"]["ticket_id"],
         "ticket": by_card.body["result"]["ticket"]}]
    # The ticket records its case too (what the clerk's window shows), once.
    ticket = await hall_store.get_ticket(result["ticket_id"])
    assert ticket is not None and ticket.case_ids == ["C-1"]
    stranger_ticket = await hall_store.get_ticket(stranger.body["result"]["ticket_id"])
    assert stranger_ticket is not None and stranger_ticket.case_ids == []
    assert (await cases.get("C-3")).linked_tickets == []
    assert (await cases.get("C-2")).linked_tickets == []
