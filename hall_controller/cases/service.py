"""Online-case use cases: the platform's upserts, the hall's visits and completions, the feed.

Every change goes through one read-modify-write loop (``_change``): read the case, apply a
pure rule from ``domain.cases``, write it back with its events only if nobody wrote it in
between (the store's version check), else re-read and apply again. So a platform upsert and a
clerk's completion that race are both applied, in some order, and neither is lost.

What the queue engine calls:

- ``open_cases_for(identity, service_code)`` when a kiosk issues a ticket (``ticket.take``);
- ``link_ticket(case_id, ticket_id, ticket_number)`` for each case it links to the ticket;
- ``complete_linked(case_id, ticket_id, outcome, reason)`` when the clerk completes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devices.contract import now_ms
from hall_controller.cases.ports import CaseStore
from hall_controller.cases.rules import (
    Case,
    CaseEvent,
    CaseInput,
    CaseStatus,
    CompletionOutcome,
    IdentityType,
    NewCaseEvent,
    OneTripCounts,
    PersonIdentity,
    apply_completion,
    apply_link,
    apply_upsert,
    apply_visit,
)
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, NotFound

logger = logging.getLogger(__name__)

EventListener = Callable[[Sequence[CaseEvent]], None]
# Each retry means someone else wrote the same case in the few milliseconds between our read
# and our write; more than a handful in a row means something is wrong, not busy.
_MAX_WRITE_ATTEMPTS = 8
MAX_FEED_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class UpsertResult:
    case: Case
    created: bool
    events: list[CaseEvent]


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[CaseEvent]
    next_cursor: int   # pass as ``after`` next time; unchanged when there was nothing new


class CaseService:
    def __init__(self, store: CaseStore, *, clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._clock = clock
        self._listeners: list[EventListener] = []

    def subscribe(self, listener: EventListener) -> None:
        """Hear every batch of appended events (the webhook dispatcher's ``wake`` uses it)."""
        self._listeners.append(listener)

    def _notify(self, events: Sequence[CaseEvent]) -> None:
        if not events:
            return
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:
                # The events are committed; a listener's bug must not turn that into an error.
                logger.exception("case event listener failed")

    async def _change(
        self, case_id: str,
        rule: Callable[[Case | None, int], tuple[Case, list[NewCaseEvent]]],
    ) -> tuple[Case, bool, list[CaseEvent]]:
        for _ in range(_MAX_WRITE_ATTEMPTS):
            existing = await self._store.get_case(case_id)
            case, new_events = rule(existing, self._clock())
            if not new_events:
                # Nothing changed (an idempotent repeat): write nothing, tell nobody.
                assert existing is not None
                return existing, False, []
            try:
                events = await self._store.save_case(
                    case, 0 if existing is None else existing.version, new_events)
            except Conflict:
                logger.info("case %s changed while being written; retrying", case_id,
                            extra={"case_id": case_id})
                continue
            self._notify(events)
            return case, existing is None, events
        raise Conflict(f"case {case_id!r} keeps changing under us; try again",
                       code=ErrorCode.CASE_BUSY, case=case_id)

    async def _change_existing(
        self, case_id: str, rule: Callable[[Case, int], tuple[Case, list[NewCaseEvent]]],
    ) -> Case:
        def on_existing(existing: Case | None, at_ms: int) -> tuple[Case, list[NewCaseEvent]]:
            if existing is None:
                raise NotFound(f"unknown case {case_id!r}",
                               code=ErrorCode.CASE_UNKNOWN, case=case_id)
            return rule(existing, at_ms)

        case, _, _ = await self._change(case_id, on_existing)
        return case

    # -- the platform ---------------------------------------------------------------------------

    async def upsert(self, incoming: CaseInput) -> UpsertResult:
        """Create or update the case as the platform describes it; repeating it is harmless."""
        case, created, events = await self._change(
            incoming.case_id, lambda existing, at: apply_upsert(existing, incoming, at))
        if created:
            logger.info("case %s created for service %s", case.case_id, case.service_code,
                        extra={"case_id": case.case_id, "service": case.service_code})
        return UpsertResult(case, created, events)

    async def get(self, case_id: str) -> Case:
        """Raises NotFound."""
        case = await self._store.get_case(case_id)
        if case is None:
            raise NotFound(f"unknown case {case_id!r}",
                           code=ErrorCode.CASE_UNKNOWN, case=case_id)
        return case

    async def list_cases(
        self, *, person_id: str | None = None, campus_card: str | None = None,
        status: CaseStatus | None = None, service_code: str | None = None, limit: int = 100,
    ) -> list[Case]:
        """Matching cases, oldest first."""
        return await self._store.list_cases(person_id=person_id, campus_card=campus_card,
                                            status=status, service_code=service_code,
                                            limit=limit)

    async def events_after(self, cursor: int, limit: int = 100,
                           case_id: str | None = None) -> EventPage:
        """The event feed: events after ``cursor`` (0 = from the start), oldest first."""
        events = await self._store.events_after(max(cursor, 0), min(limit, MAX_FEED_LIMIT),
                                                case_id)
        return EventPage(events, events[-1].id if events else max(cursor, 0))

    async def one_trip(self, from_ms: int, to_ms: int) -> OneTripCounts:
        """Cases resolved in [from_ms, to_ms): how many took exactly one visit of those that
        took at least one (cases resolved entirely online do not count either way)."""
        return await self._store.one_trip_counts(from_ms, to_ms)

    # -- the hall -------------------------------------------------------------------------------

    async def open_cases_for(self, identity: PersonIdentity, service_code: str) -> list[Case]:
        """The visitor's cases for ``service_code`` that need them in the hall (status
        awaiting_visit or materials_required), oldest first. For a QR code, the case it names
        (if it is for that service and needs a visit)."""
        if identity.type is IdentityType.QR:
            case = await self._store.get_case(identity.value)
            candidates = [] if case is None else [case]
        elif identity.type is IdentityType.CAMPUS_CARD:
            candidates = await self._store.list_cases(campus_card=identity.value,
                                                      service_code=service_code)
        else:
            candidates = await self._store.list_cases(person_id=identity.value,
                                                      service_code=service_code)
        return [c for c in candidates
                if c.service_code == service_code and c.needs_visit() and c.matches(identity)]

    async def knows_identity(self, identity_type: str, value: str) -> bool:
        """Whether a card or QR code read at a kiosk names an applicant or a case we hold
        (any status): ``TicketService``'s check for an unknown visitor."""
        if identity_type == IdentityType.QR:
            return await self._store.get_case(value) is not None
        if identity_type == IdentityType.CAMPUS_CARD:
            return bool(await self._store.list_cases(campus_card=value, limit=1))
        if identity_type == IdentityType.PERSON_ID:
            return bool(await self._store.list_cases(person_id=value, limit=1))
        return False

    async def link_ticket(self, case_id: str, ticket_id: str,
                          ticket_number: str | None = None) -> Case:
        """Link a ticket to the case (``case.ticket_linked``); again for the same ticket is a
        no-op. Raises NotFound."""
        return await self._change_existing(
            case_id, lambda existing, at: apply_link(existing, ticket_id, ticket_number, at))

    async def record_visit(self, case_id: str, ticket_id: str, outcome: str) -> Case:
        """Count one in-person visit (one per ticket; ``case.visit_recorded``).
        Raises NotFound."""
        return await self._change_existing(
            case_id, lambda existing, at: apply_visit(existing, ticket_id, outcome, at))

    async def complete_linked(self, case_id: str, ticket_id: str, outcome: CompletionOutcome,
                              reason: str | None = None) -> Case:
        """The clerk completed ``ticket_id`` for this case: count the visit and advance the
        case (resolved: materials verified, certificate collected; pending_materials: back to
        materials_required with ``reason``). Repeating it is harmless. Raises NotFound."""
        case = await self._change_existing(
            case_id,
            lambda existing, at: apply_completion(existing, ticket_id, outcome, reason, at))
        logger.info("case %s completed at the window (%s)", case_id, outcome.value,
                    extra={"case_id": case_id, "ticket_id": ticket_id,
                           "outcome": outcome.value})
        return case
