"""Which online cases a ticket serves, on the ticket row (``services.tickets.TicketCaseRecorder``).

Over an open pool it does not own (``PostgresStore.pool``). Connection trouble becomes
``StoreUnavailable``, as in ``PostgresStore``.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool

from hall_controller.cases.queries import QUERIES
from hall_controller.kernel.postgres.connections import execute


class PostgresTicketCases:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def add_ticket_cases(self, ticket_id: str, case_ids: Sequence[str]) -> None:
        await execute(self._pool, "record ticket cases", QUERIES["add_ticket_cases"],
                      {"ticket_id": ticket_id, "case_ids": list(case_ids)})
