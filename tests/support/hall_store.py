"""One object for tests that use the fleet, ticket and user stores together.

Production opens each room's store over one pool (``hall.assembly.postgres_adapters``); many
tests would rather hold one object, so this test helper merges the three over one pool.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.queue.postgres_tickets import PostgresTicketStore
from hall_controller.users.postgres_store import PostgresUserStore


class PostgresHallStore(PostgresStore, PostgresTicketStore, PostgresUserStore):
    """The fleet, ticket and user stores over one pool; ``PostgresHallStore.connect(dsn)``
    yields one (``connect`` builds ``cls``)."""

    def __init__(self, pool: AsyncConnectionPool, *, retention_days: int = 90,
                 ping_timeout_s: float = 2.0) -> None:
        PostgresStore.__init__(self, pool, retention_days=retention_days,
                               ping_timeout_s=ping_timeout_s)
        PostgresTicketStore.__init__(self, pool)
        PostgresUserStore.__init__(self, pool)
