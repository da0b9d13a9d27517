"""``DeadLetterStore`` over PostgreSQL: the messages the controller refused, read back
(queries in ``sql/dead_letters.sql``). They are written by ``PostgresStore.commit_batch``
with the rest of their batch, and pruned by ``PostgresStore.maintain``.

Over an open pool it does not own (``PostgresStore`` builds one over its pool).
"""

from __future__ import annotations

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from hall_controller.fleet.batch import PAYLOAD_PREVIEW_BYTES, payload_preview
from hall_controller.fleet.model import StoredDeadLetter
from hall_controller.fleet.queries import QUERIES
from hall_controller.kernel.postgres.connections import fetch_all
from hall_controller.kernel.postgres.queries import where_clause


class PostgresDeadLetterStore:
    """Dead letters in the controller's database."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def list_dead_letters(self, limit: int = 100,
                                device_id: str | None = None) -> list[StoredDeadLetter]:
        """Dead letters newest first, with the start of each payload as text."""
        conditions: list[sql.Composable] = []
        if device_id is not None:
            conditions.append(sql.SQL("device_id = %(device_id)s"))
        query = sql.SQL(QUERIES["list_dead_letters"]).format(where=where_clause(conditions))
        rows = await fetch_all(self._pool, "list dead letters", query, {
            "device_id": device_id, "limit": max(limit, 0),
            "preview_bytes": PAYLOAD_PREVIEW_BYTES})
        return [
            StoredDeadLetter(
                id=r["id"], received_ms=r["received_ms"], topic=r["topic"],
                device_id=r["device_id"], reason=r["reason"],
                payload_preview=payload_preview(bytes(r["payload_start"])), size=r["size"],
            )
            for r in rows
        ]

    async def count_dead_letters_by_reason(self) -> dict[str, int]:
        """Counts keyed by the reason's category (the text before the first ':')."""
        rows = await fetch_all(self._pool, "count dead letters",
                               QUERIES["count_dead_letters_by_reason"])
        return {r["category"]: r["n"] for r in rows}
