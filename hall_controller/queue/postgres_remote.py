"""``RemoteTicketStore`` over PostgreSQL, on the controller's pool (queries/remote_tickets.sql).

Each call is one statement on an autocommit connection, as in ``ticket_moves``; the check-in
is one statement too (move, transition and the kiosk request that made it), so a redelivered
``ticket.take`` always finds the ticket it checked in. Connection trouble becomes
``StoreUnavailable``.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import NotFound
from hall_controller.kernel.postgres.connections import dict_cursor
from hall_controller.queue.model import Ticket
from hall_controller.queue.ports import RemoteInfo
from hall_controller.queue.postgres_tickets import _ticket as ticket_from_row
from hall_controller.queue.queries import QUERIES
from hall_controller.queue.rules import Moved


class PostgresRemoteTickets:
    """The remote-ticket port over an open pool it does not own."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def record_remote(self, info: RemoteInfo) -> None:
        try:
            async with dict_cursor(self._pool, "record remote ticket") as cur:
                await cur.execute(QUERIES["record_remote_ticket"], {
                    "ticket_id": info.ticket_id, "checkin_by_ms": info.checkin_by_ms,
                    "case_id": info.case_id, "created_by": info.created_by})
        except (psycopg.errors.ForeignKeyViolation, psycopg.errors.InvalidTextRepresentation) as exc:
            raise NotFound(f"unknown ticket {info.ticket_id}",
                           code=ErrorCode.TICKET_UNKNOWN, ticket=info.ticket_id) from exc

    async def remote_info(self, ticket_id: str) -> RemoteInfo | None:
        async with dict_cursor(self._pool, "remote ticket") as cur:
            try:
                await cur.execute(QUERIES["get_remote_ticket"], {"ticket_id": ticket_id})
            except psycopg.errors.InvalidTextRepresentation:
                return None  # not a UUID: no such ticket
            row = await cur.fetchone()
        if row is None:
            return None
        return RemoteInfo(row["ticket_id"], row["checkin_by_ms"], row["case_id"],
                          row["created_by"])

    async def _tickets(self, what: str, query: str, params: dict[str, Any]) -> list[Ticket]:
        async with dict_cursor(self._pool, what) as cur:
            await cur.execute(QUERIES[query], params)
            return [ticket_from_row(r) for r in await cur.fetchall()]

    async def awaiting_for(self, service_code: str, service_day: str, identity_type: str,
                           identity_value: str) -> list[Ticket]:
        return await self._tickets("awaiting tickets", "awaiting_for_identity", {
            "service_code": service_code, "service_day": service_day,
            "identity_type": identity_type, "identity_value": identity_value})

    async def ticket_for_request(self, origin_device: str, request_id: str) -> Ticket | None:
        found = await self._tickets("ticket for request", "ticket_for_request", {
            "origin_device": origin_device, "request_id": request_id})
        return found[0] if found else None

    async def check_in(self, moved: Moved, origin_device: str | None,
                       request_id: str | None) -> Ticket | None:
        ticket, transition = moved
        try:
            async with dict_cursor(self._pool, "check in remote ticket") as cur:
                await cur.execute(QUERIES["check_in_remote_ticket"], {
                    "ticket_id": ticket.ticket_id, "state": ticket.state.value,
                    "issued_ms": ticket.issued_ms, "at_ms": transition.at_ms,
                    "actor": transition.actor, "detail": transition.detail,
                    "origin_device": origin_device, "request_id": request_id})
                row = await cur.fetchone()
        except psycopg.errors.UniqueViolation:
            # The same kiosk request checked a ticket in meanwhile (a redelivery that reached
            # another controller); nothing was written. The caller finds that ticket.
            return None
        return None if row is None else ticket_from_row(row)

    async def due_to_lapse(self, now_ms: int, default_window_ms: int,
                           limit: int) -> list[Ticket]:
        return await self._tickets("tickets due to lapse", "due_to_lapse", {
            "now_ms": now_ms, "default_window_ms": default_window_ms, "limit": limit})

    async def open_before(self, service_day: str, limit: int) -> list[Ticket]:
        return await self._tickets("open tickets before a day", "open_before_day", {
            "service_day": service_day, "limit": limit})
