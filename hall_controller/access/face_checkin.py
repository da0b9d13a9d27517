"""Face check-in (无感签到) at the hall entrance.

When an entrance gate grants someone by face, the controller looks for what brings them in
today: a remote ticket waiting for check-in (指尖办), else an online case that needs them in the
hall. It checks the ticket in, or takes one for the case's service, exactly as a kiosk would
(``TicketService.take`` with a person-id identity, keyed on the gate's event id so a repeated
event changes nothing), and tells them on the gate's screen where to go. Someone already holding
a live ticket today gets it shown again instead of a second one.

A grant the controller's own policy does not contain (``grant_check``: forged, or a gate that
ignores its policy) checks no one in: it would hand a stranger, or whoever forged the event,
someone else's ticket. It is audited as ``refused``.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from hall_controller.access.grant_check import DevicePolicies
from hall_controller.access.ports import AccessStore
from hall_controller.access.rules import grant_doubt
from hall_controller.cases.rules import Case, IdentityType
from hall_controller.fleet.commands import CommandService
from hall_controller.fleet.model import DeviceEvent
from hall_controller.fleet.registry import DeviceRegistry
from hall_controller.fleet.requests import RequestError
from hall_controller.kernel.errors import HallError
from hall_controller.queue.model import TicketState
from hall_controller.queue.ports import RemoteTicketStore, TicketStore
from hall_controller.queue.tickets import TicketService

logger = logging.getLogger(__name__)

LIVE_STATES = frozenset({TicketState.WAITING, TicketState.CALLED, TicketState.SERVING,
                         TicketState.PARKED})
IDENTITY_TYPES = (IdentityType.PERSON_ID.value, IdentityType.FACE.value)


@runtime_checkable
class PersonCases(Protocol):
    """What check-in needs of the online cases (``CaseService`` has it)."""

    async def list_cases(self, *, person_id: str | None = None, limit: int = 100) -> list[Case]:
        ...


class FaceCheckIn:
    """An ingest event listener for ``access.granted`` events from the entrance gates."""

    def __init__(self, gates: Sequence[str], tickets: TicketService, ticket_store: TicketStore,
                 *, registry: DeviceRegistry, commands: CommandService, audit: AccessStore,
                 cases: PersonCases | None = None, remote: RemoteTicketStore | None = None,
                 policies: DevicePolicies | None = None) -> None:
        """``gates``: device ids or patterns (``gate-hall-*``) of the gates that check in;
        ``policies``: the controller's own access policy, so a grant it does not contain
        checks no one in."""
        self._gates = tuple(gates)
        self._tickets = tickets
        self._ticket_store = ticket_store
        self._registry = registry
        self._commands = commands
        self._audit = audit
        self._cases = cases
        self._remote = remote
        self._policies = policies

    def is_checkin_gate(self, device_id: str) -> bool:
        return any(fnmatch.fnmatchcase(device_id, g) for g in self._gates)

    async def __call__(self, event: DeviceEvent) -> None:
        if event.type != "access.granted" or not self.is_checkin_gate(event.device_id):
            return
        person_id = event.data.get("person_id")
        if not isinstance(person_id, str) or event.data.get("method") != "face":
            return
        doubt = None
        if self._policies is not None:
            policy = await self._policies.policy_for(event.device_id)
            doubt = grant_doubt(policy, event.data, event.ts_ms)
        if doubt is not None:
            outcome, details = "refused", {"reason": "suspicious_grant", "doubt": doubt}
        else:
            outcome, details = await self.check_in(event.device_id, person_id, event.event_id,
                                                   event.ts_ms)
        await self._audit.record_admin("face.checkin", f"device:{event.device_id}",
                                       device_id=event.device_id, person_id=person_id,
                                       outcome=outcome, details=details)

    async def check_in(self, gate_id: str, person_id: str, event_id: str, at_ms: int
                       ) -> tuple[str, dict[str, Any]]:
        """Returns (outcome, details): ``checked_in``, ``ticket_issued``, ``already_queued``,
        ``nothing_due`` or ``failed``."""
        day = self._tickets.service_day(at_ms)
        live = await self._live_ticket(person_id, day)
        if live is not None:
            await self._show(gate_id, live, person_id)
            return "already_queued", live
        service = await self._service_due(person_id, day)
        if service is None:
            return "nothing_due", {}
        try:
            result = await self._tickets.take(
                gate_id, self._registry.get(gate_id),
                {"service": service, "identity": {"type": "person_id", "value": person_id}},
                f"face-checkin:{event_id}")
        except (RequestError, HallError) as exc:
            logger.warning("face check-in of %s at %s failed: %s", person_id, gate_id, exc,
                           extra={"device_id": gate_id})
            return "failed", {"service": service, "error": str(exc)}
        await self._show(gate_id, result, person_id)
        return ("checked_in" if result.get("checked_in") else "ticket_issued"), {
            k: result.get(k) for k in ("ticket", "ticket_id", "service", "waiting_ahead",
                                       "estimated_wait_s")}

    async def _live_ticket(self, person_id: str, day: str) -> dict[str, Any] | None:
        for ticket in await self._ticket_store.person_tickets(person_id, day):
            if ticket.state in LIVE_STATES:
                return {"ticket": ticket.number, "ticket_id": ticket.ticket_id,
                        "service": ticket.service_code, "state": ticket.state.value}
        return None

    async def _service_due(self, person_id: str, day: str) -> str | None:
        """A remote ticket waiting for check-in first (it holds a number), else the oldest
        case that needs a visit."""
        if self._remote is not None:
            for service in self._tickets.settings.services:
                for identity_type in IDENTITY_TYPES:
                    if await self._remote.awaiting_for(service.code, day, identity_type,
                                                       person_id):
                        return service.code
        if self._cases is not None:
            known = self._tickets.settings.service_codes
            for case in await self._cases.list_cases(person_id=person_id, limit=50):
                if case.needs_visit() and case.service_code in known:
                    return case.service_code
        return None

    async def _show(self, gate_id: str, ticket: dict[str, Any], person_id: str) -> None:
        """Best effort: the ticket is taken whether or not the screen shows it."""
        lines = [f"您的号码 {ticket.get('ticket')}",
                 "请到等候区留意叫号" if ticket.get("state") in (None, "waiting")
                 else f"状态：{ticket.get('state')}"]
        if ticket.get("waiting_ahead") is not None:
            lines.append(f"前面还有 {ticket['waiting_ahead']} 人")
        try:
            await self._commands.send(gate_id, "gate.show", {
                "lines": lines, "ticket": ticket.get("ticket"), "person_id": person_id,
                "seconds": 8}, "system:face-checkin", wait=False)
        except HallError as exc:
            logger.info("gate %s screen not told: %s", gate_id, exc, extra={"device_id": gate_id})
