"""``UserStore`` over PostgreSQL (the ``users`` table of migration 0001, queries in
``sql/users.sql``), over an open pool it does not own (``PostgresStore.pool``).

Connection trouble becomes ``StoreUnavailable`` (``kernel.postgres.connections``).
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from hall_controller.fleet.model import Role, User
from hall_controller.kernel.postgres.connections import execute, fetch_one
from hall_controller.users.queries import QUERIES


class PostgresUserStore:
    """The API's user accounts in the controller's database."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def get_user(self, username: str) -> User | None:
        row = await fetch_one(self._pool, "get user", QUERIES["get_user"],
                              {"username": username})
        if row is None:
            return None
        return User(row["username"], row["password_hash"], Role(row["role"]), row["disabled"])

    async def upsert_user(self, user: User) -> None:
        await execute(self._pool, "upsert user", QUERIES["upsert_user"], {
            "username": user.username, "password_hash": user.password_hash,
            "role": user.role.value, "disabled": user.disabled})
