"""``TicketStore`` over PostgreSQL, on the same connection pool as ``PostgresStore``.

``PostgresTicketStore(pool)`` stands alone; ``PostgresHallStore`` is ``PostgresStore`` with the
ticket and user methods too (``users.postgres_store``), so the composition root keeps handing
one store object around (its ``connect`` yields one). Errors are translated as in
``PostgresStore``: connection trouble becomes ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from hall_controller.kernel.postgres.connections import Row, dict_cursor, transaction
from hall_controller.queue.model import (
    ServiceDef,
    Ticket,
    TicketSource,
    TicketState,
    TicketTransition,
)
from hall_controller.queue.ports import (
    DailyCapReached,
    InvalidService,
    IssuedTicket,
    NumberInUse,
    TicketRequest,
    UnknownService,
)
from hall_controller.queue.queries import QUERIES
from hall_controller.queue.rules import initial_state, ticket_number

_REQUEST_KEY = "tickets_origin_device_request_id_key"  # UNIQUE (origin_device, request_id)
_LIVE_NUMBER = "tickets_live_number"  # one live ticket per printed number and day (0010)


_GROUP_MAX = 500  # requests per allocation statement (bounds the statement's size)


class _DuplicateRequest(Exception):
    """Another controller stored one of the group's requests meanwhile (nothing was stored)."""


@dataclass(frozen=True, slots=True)
class _ServiceRange:
    prefix: str
    first_number: int
    max_seq: int       # the last number the day's range and cap allow
    width: int         # digits of a number

    @classmethod
    def of(cls, row: Row) -> _ServiceRange:
        first, last, cap = row["first_number"], row["last_number"], row["daily_cap"]
        return cls(row["prefix"], first, last if cap is None else min(last, first + cap - 1),
                   len(ticket_number("", last, last)))


@dataclass(slots=True)
class _Pending:
    request: TicketRequest
    future: asyncio.Future[IssuedTicket] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())

    def resolve(self, issued: IssuedTicket) -> None:
        if not self.future.done():
            self.future.set_result(issued)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class PostgresTicketStore:
    """The ticket port over an open pool it does not own."""

    _pool: AsyncConnectionPool

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        # Requests waiting for the next allocation statement of their (service, day), and
        # the task that runs those statements while any are waiting (group commit).
        self._ticket_groups: dict[tuple[str, str], list[_Pending]] = {}
        self._ticket_flushers: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def sync_services(self, services: Sequence[ServiceDef]) -> None:
        """Upsert the configured services and mark the others inactive, in one transaction."""
        try:
            await self._sync_services(services)
        except psycopg.errors.CheckViolation as exc:
            raise InvalidService(f"the service catalog refuses {exc.diag.constraint_name}: "
                                 f"{exc.diag.message_detail}") from exc

    async def _sync_services(self, services: Sequence[ServiceDef]) -> None:
        async with transaction(self._pool, "sync services") as cur:
            await cur.execute(QUERIES["upsert_services"], {
                "codes": [s.code for s in services], "names": [s.name for s in services],
                "prefixes": [s.prefix for s in services],
                "first_numbers": [s.first_number for s in services],
                "last_numbers": [s.last_number for s in services],
                "daily_caps": [s.daily_cap for s in services],
                "target_waits": [s.target_wait_s for s in services],
            })
            await cur.execute(QUERIES["deactivate_other_services"],
                              {"codes": [s.code for s in services]})

    async def issue_ticket(self, request: TicketRequest) -> IssuedTicket:
        """See ``TicketStore.issue_ticket``.

        Group commit: the request joins the group of its service and day that the next
        allocation round takes (every request that queued up while the previous round was
        committing). A round is a few statements for the whole group on one connection, and
        one commit for all its tickets: the counter row, which every ticket of a service
        passes through, is held once per group instead of once per ticket.
        """
        pending = _Pending(request)
        key = (request.service_code, request.service_day)
        self._ticket_groups.setdefault(key, []).append(pending)
        if key not in self._ticket_flushers:
            # The flusher belongs to the store and ends by itself once the group is empty;
            # waiters only await their future, so a cancelled waiter never strands the others.
            self._ticket_flushers[key] = asyncio.create_task(
                self._flush_groups(key), name=f"ticket-allocation-{key[0]}")
        return await pending.future

    async def _flush_groups(self, key: tuple[str, str]) -> None:
        try:
            while True:
                queued = self._ticket_groups.get(key)
                if not queued:
                    return  # no await since the check: nobody can have joined unseen
                group = [p for p in queued[:_GROUP_MAX] if not p.future.cancelled()]
                del queued[:_GROUP_MAX]
                if not group:
                    continue
                try:
                    await self._issue_group(group)
                except _DuplicateRequest:
                    # One request of the group was stored by another controller meanwhile (a
                    # redelivery that went to both); nothing of the group was stored. One by
                    # one, so each gets its own answer and that one finds its ticket.
                    for pending in group:
                        try:
                            await self._issue_group([pending])
                        except _DuplicateRequest:
                            await self._issue_group([pending])  # now it finds the stored one
                        except Exception as exc:
                            pending.fail(exc)
                except Exception as exc:
                    for pending in group:
                        pending.fail(exc)
        finally:
            self._ticket_flushers.pop(key, None)
            self._ticket_groups.pop(key, None)

    async def _issue_group(self, group: list[_Pending]) -> None:
        """One allocation round for requests of one service and day; resolves every future.

        Autocommit: each statement is its own transaction. Only ``issue_tickets`` writes, and
        it does all of it in one statement (see queries/tickets.sql for why).
        """
        head = group[0].request
        day = {"service_code": head.service_code, "service_day": head.service_day}
        keyed = [p.request for p in group if _request_key(p.request) is not None]
        async with dict_cursor(self._pool, "issue tickets") as cur:
            await cur.execute(QUERIES["get_active_service"], day)
            service = await cur.fetchone()
            existing: dict[tuple[str | None, str | None], Ticket] = {}
            if keyed:
                await cur.execute(QUERIES["tickets_by_requests"], {
                    "origin_devices": [r.origin_device for r in keyed],
                    "request_ids": [r.request_id for r in keyed]})
                existing = {(t.origin_device, t.request_id): t
                            for t in map(_ticket, await cur.fetchall())}
            # Redeliveries answer with their stored ticket; the same request twice in this
            # group (a kiosk resending fast) is stored once.
            fresh: list[TicketRequest] = []
            seen: set[tuple[str | None, str | None]] = set(existing)
            for pending in group:
                request_key = _request_key(pending.request)
                if request_key is None or request_key not in seen:
                    fresh.append(pending.request)
                    if request_key is not None:
                        seen.add(request_key)
            if fresh and service is None:
                exc = UnknownService(f"no service {head.service_code!r}")
                for pending in group:
                    if _request_key(pending.request) not in existing:
                        pending.fail(exc)
                fresh = []
            limits = None if service is None else _ServiceRange.of(service)
            created: dict[str, Ticket] = {}
            if fresh and limits is not None:
                allocated = await _insert_tickets(cur, fresh, limits)
                for request in fresh:
                    row = allocated.get(request.ticket_id)
                    if row is not None:
                        created[request.ticket_id] = _new_ticket(request, row["seq"], row["number"])
            by_key = {**existing, **{k: t for t in created.values()
                                     if (k := (t.origin_device, t.request_id)) != (None, None)}}
            # After the commit, so it counts whatever others committed too.
            await cur.execute(QUERIES["group_snapshot"], {
                **day, "ticket_ids": [t.ticket_id for t in (*existing.values(), *created.values())]})
            snapshot = {r["ticket_id"]: r for r in await cur.fetchall()}
        recent = next(iter(snapshot.values()), {}).get("recent_service_s")
        windows = next(iter(snapshot.values()), {}).get("serving_windows", 0)

        def issued(ticket: Ticket, is_new: bool) -> IssuedTicket:
            seen_row = snapshot.get(ticket.ticket_id)  # absent once it is no longer waiting
            return IssuedTicket(ticket, is_new, 0 if seen_row is None else seen_row["waiting_ahead"],
                                recent, windows)

        for pending in group:
            request = pending.request
            if request.ticket_id in created:
                pending.resolve(issued(created[request.ticket_id], True))
            elif (request_key := _request_key(request)) is not None and request_key in by_key:
                pending.resolve(issued(by_key[request_key], False))
            elif limits is not None:
                pending.fail(DailyCapReached(
                    f"service {request.service_code!r} has issued all "
                    f"{limits.max_seq - limits.first_number + 1} tickets of {request.service_day}"))

    async def get_ticket(self, ticket_id: str) -> Ticket | None:
        async with dict_cursor(self._pool, "get ticket") as cur:
            try:
                await cur.execute(QUERIES["get_ticket"], {"ticket_id": ticket_id})
            except psycopg.errors.InvalidTextRepresentation:
                return None  # not a UUID: no such ticket
            row = await cur.fetchone()
        return None if row is None else _ticket(row)

    async def list_tickets(self, service_code: str, service_day: str) -> list[Ticket]:
        """The tickets of that day now in the service's queue, by sequence number, then number."""
        async with dict_cursor(self._pool, "list tickets") as cur:
            await cur.execute(QUERIES["list_tickets"],
                              {"service_code": service_code, "service_day": service_day})
            return [_ticket(r) for r in await cur.fetchall()]

    async def person_tickets(self, person_id: str, service_day: str) -> list[Ticket]:
        async with dict_cursor(self._pool, "person tickets") as cur:
            await cur.execute(QUERIES["person_tickets"],
                              {"person_id": person_id, "service_day": service_day})
            return [_ticket(r) for r in await cur.fetchall()]

    async def ticket_transitions(self, ticket_id: str) -> list[TicketTransition]:
        """Oldest first."""
        async with dict_cursor(self._pool, "ticket transitions") as cur:
            await cur.execute(QUERIES["list_transitions"], {"ticket_id": ticket_id})
            rows = await cur.fetchall()
        return [
            TicketTransition(
                ticket_id=r["ticket_id"],
                from_state=None if r["from_state"] is None else TicketState(r["from_state"]),
                to_state=TicketState(r["to_state"]), at_ms=r["at_ms"], actor=r["actor"],
                window_id=r["window_id"], detail=r["detail"])
            for r in rows
        ]


def _new_ticket(request: TicketRequest, seq: int, number: str) -> Ticket:
    return Ticket(
        ticket_id=request.ticket_id, service_code=request.service_code, number=number, seq=seq,
        service_day=request.service_day, state=initial_state(request.source),
        issued_ms=request.issued_ms,
        source=request.source, priority=request.priority, person_id=request.person_id,
        origin_device=request.origin_device, request_id=request.request_id)


async def _insert_tickets(cur: psycopg.AsyncCursor[Row], requests: list[TicketRequest],
                          limits: _ServiceRange) -> dict[str, Row]:
    """Run the allocation statement (see issue_tickets): ticket id → (seq, number) row."""
    head = requests[0]
    try:
        await cur.execute(QUERIES["issue_tickets"], _issue_params(requests, limits))
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == _REQUEST_KEY:
            raise _DuplicateRequest from exc
        if exc.diag.constraint_name == _LIVE_NUMBER:
            raise NumberInUse(
                f"service {head.service_code!r} would print a number a live ticket of "
                f"{head.service_day} shows ({exc.diag.message_detail}); were prefixes changed "
                f"today?",
                              service=head.service_code) from exc
        raise
    return {r["ticket_id"]: r for r in await cur.fetchall()}


def _issue_params(requests: list[TicketRequest], limits: _ServiceRange) -> dict[str, Any]:
    head = requests[0]
    return {
        "service_code": head.service_code, "service_day": head.service_day,
        "first_number": limits.first_number, "max_seq": limits.max_seq, "n": len(requests),
        "prefix": limits.prefix, "width": limits.width,
        "ticket_ids": [r.ticket_id for r in requests],
        "sources": [r.source.value for r in requests],
        "priorities": [r.priority for r in requests],
        "issued_ms": [r.issued_ms for r in requests],
        "person_ids": [r.person_id for r in requests],
        "identity_types": [r.identity_type for r in requests],
        "identity_values": [r.identity_value for r in requests],
        "origin_devices": [r.origin_device for r in requests],
        "request_ids": [r.request_id for r in requests],
        "actors": [r.actor for r in requests],
    }


def _request_key(request: TicketRequest) -> tuple[str | None, str | None] | None:
    """The idempotency key, when the ticket comes from a device request."""
    if request.origin_device is None or request.request_id is None:
        return None
    return request.origin_device, request.request_id


def _ticket(row: Row) -> Ticket:
    return Ticket(
        ticket_id=row["ticket_id"], service_code=row["service_code"], number=row["number"],
        seq=row["seq"], service_day=row["service_day"], state=TicketState(row["state"]),
        issued_ms=row["issued_ms"], source=TicketSource(row["source"]), priority=row["priority"],
        appointment_ms=row["appointment_ms"], person_id=row["person_id"],
        case_ids=list(row["case_ids"]), window_id=row["window_id"], called_ms=row["called_ms"],
        serving_ms=row["serving_ms"], completed_ms=row["completed_ms"], recalls=row["recalls"],
        outcome=row["outcome"], origin_device=row["origin_device"],
        request_id=row["request_id"])
