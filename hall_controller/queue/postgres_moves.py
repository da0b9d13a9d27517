"""``TicketMoveStore`` over PostgreSQL, on the controller's pool (``PostgresStore.pool``).

Each move is one statement on an autocommit connection (see ``apply_ticket_move`` in
queries/ticket_moves.sql): the conditional UPDATE and the transition INSERT commit together,
and the row lock is held only while the server runs it. Connection trouble becomes
``StoreUnavailable``, as in the other PostgreSQL stores.
"""

from __future__ import annotations

from collections.abc import Collection

import psycopg
from psycopg_pool import AsyncConnectionPool

from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.kernel.postgres.connections import Row, dict_cursor
from hall_controller.queue.model import Ticket, TicketState
from hall_controller.queue.ports import ClerkDay, MoveConflict, UnknownService, WindowSession
from hall_controller.queue.postgres_tickets import _ticket as ticket_from_row
from hall_controller.queue.queries import QUERIES
from hall_controller.queue.rules import Moved


class PostgresTicketMoves:
    """The move port over an open pool it does not own."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def apply_move(self, moved: Moved, expected_state: TicketState) -> Ticket:
        ticket, transition = moved
        async with dict_cursor(self._pool, "apply ticket move") as cur:
            try:
                await cur.execute(QUERIES["apply_ticket_move"], {
                    "ticket_id": ticket.ticket_id, "expected_state": expected_state.value,
                    "state": ticket.state.value, "service_code": ticket.service_code,
                    "issued_ms": ticket.issued_ms, "window_id": ticket.window_id,
                    "called_ms": ticket.called_ms, "serving_ms": ticket.serving_ms,
                    "completed_ms": ticket.completed_ms, "recalls": ticket.recalls,
                    "outcome": ticket.outcome,
                    "from_state": (None if transition.from_state is None
                                   else transition.from_state.value),
                    "at_ms": transition.at_ms, "actor": transition.actor,
                    "transition_window": transition.window_id, "detail": transition.detail,
                })
            except psycopg.errors.ForeignKeyViolation as exc:  # tickets.service_code
                raise UnknownService(f"no service {ticket.service_code!r} in the catalog; "
                                     f"ticket {ticket.number} stays where it was",
                                     service=ticket.service_code) from exc
            row = await cur.fetchone()
            if row is not None:
                return ticket_from_row(row)
            # Why it failed, for the message (the answer may be stale already; it is only read).
            await cur.execute(QUERIES["ticket_state"], {"ticket_id": ticket.ticket_id})
            now = await cur.fetchone()
        if now is None:
            raise NotFound(f"unknown ticket {ticket.ticket_id}", code=ErrorCode.TICKET_UNKNOWN,
                           ticket=ticket.number)
        raise MoveConflict(f"ticket {now['number']} is {now['state']} now "
                           f"(already called by another window?)", ticket=now["number"],
                           state=now["state"])

    async def waiting_for(self, service_codes: Collection[str], service_day: str) -> list[Ticket]:
        async with dict_cursor(self._pool, "waiting tickets") as cur:
            await cur.execute(QUERIES["waiting_for"], {"codes": list(service_codes),
                                                       "service_day": service_day})
            return [ticket_from_row(r) for r in await cur.fetchall()]

    async def _at_window(self, window_id: str, states: list[str]) -> list[Ticket]:
        async with dict_cursor(self._pool, "tickets at window") as cur:
            await cur.execute(QUERIES["tickets_at_window"], {"window_id": window_id,
                                                             "states": states})
            return [ticket_from_row(r) for r in await cur.fetchall()]

    async def current_ticket(self, window_id: str) -> Ticket | None:
        active = await self._at_window(window_id, [TicketState.CALLED.value,
                                                   TicketState.SERVING.value])
        return active[-1] if active else None

    async def parked_at(self, window_id: str) -> list[Ticket]:
        return await self._at_window(window_id, [TicketState.PARKED.value])

    async def clerk_day(self, actor: str, service_day: str) -> ClerkDay:
        async with dict_cursor(self._pool, "clerk day") as cur:
            await cur.execute(QUERIES["clerk_day"], {"actor": actor, "service_day": service_day})
            row = await cur.fetchone()
        assert row is not None  # an aggregate always returns a row
        return ClerkDay(called=row["called"], done=row["done"], no_show=row["no_show"],
                        transferred=row["transferred"],
                        service_s_total=float(row["service_s_total"]))

    async def recent_calls(self, window_id: str, limit: int) -> list[bool]:
        if limit <= 0:
            return []
        async with dict_cursor(self._pool, "recent calls") as cur:
            await cur.execute(QUERIES["recent_window_calls"], {"window_id": window_id,
                                                               "limit": limit})
            return [bool(r["priority"]) for r in await cur.fetchall()]

    async def open_window(self, window_id: str, clerk: str, at_ms: int) -> WindowSession:
        async with dict_cursor(self._pool, "open window") as cur:
            await cur.execute(QUERIES["open_window_session"], {"window_id": window_id,
                                                               "clerk": clerk, "at_ms": at_ms})
            row = await cur.fetchone()
            if row is None:
                await cur.execute(QUERIES["open_window_session_of"], {"window_id": window_id})
                row = await cur.fetchone()
        if row is None:  # closed between the two statements: let the clerk try again
            raise Conflict(f"window {window_id} changed meanwhile; try again",
                           code=ErrorCode.WINDOW_CHANGED, window=window_id)
        session = _session(row)
        if session.clerk != clerk:
            raise Conflict(f"window {window_id} is open by {session.clerk}",
                           code=ErrorCode.WINDOW_OPEN_BY_OTHER, window=window_id,
                           clerk=session.clerk)
        return session

    async def close_window(self, window_id: str, at_ms: int) -> WindowSession:
        async with dict_cursor(self._pool, "close window") as cur:
            await cur.execute(QUERIES["close_window_session"], {"window_id": window_id,
                                                                "at_ms": at_ms})
            row = await cur.fetchone()
        if row is None:
            raise Conflict(f"window {window_id} is not open", code=ErrorCode.WINDOW_NOT_OPEN,
                           window=window_id)
        return _session(row)

    async def window_session(self, window_id: str) -> WindowSession | None:
        async with dict_cursor(self._pool, "window session") as cur:
            await cur.execute(QUERIES["open_window_session_of"], {"window_id": window_id})
            row = await cur.fetchone()
        return None if row is None else _session(row)


def _session(row: Row) -> WindowSession:
    return WindowSession(row["window_id"], row["clerk"], row["opened_ms"], row["closed_ms"])
