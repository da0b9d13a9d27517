"""``UserStore`` over PostgreSQL (the ``users`` table of migrations 0001 and 0013, queries in
``sql/users.sql``), over an open pool it does not own (``PostgresStore.pool``).

Connection trouble becomes ``StoreUnavailable`` (``kernel.postgres.connections``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool

from hall_controller.fleet.model import Role, User
from hall_controller.kernel.postgres.connections import (
    execute,
    fetch_all,
    fetch_one,
    transaction,
)
from hall_controller.users.queries import QUERIES


def _user(row: dict[str, Any]) -> User:
    return User(row["username"], row["password_hash"], Role(row["role"]), row["disabled"],
                row["token_version"])


def _params(user: User) -> dict[str, Any]:
    return {"username": user.username, "password_hash": user.password_hash,
            "role": user.role.value, "disabled": user.disabled,
            "token_version": user.token_version}


class PostgresUserStore:
    """The API's user accounts in the controller's database."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def get_user(self, username: str) -> User | None:
        row = await fetch_one(self._pool, "get user", QUERIES["get_user"],
                              {"username": username})
        return None if row is None else _user(row)

    async def list_users(self) -> list[User]:
        rows = await fetch_all(self._pool, "list users", QUERIES["list_users"], {})
        return [_user(row) for row in rows]

    async def upsert_user(self, user: User) -> None:
        await execute(self._pool, "upsert user", QUERIES["upsert_user"], _params(user))

    async def update_user(self, username: str,
                          decide: Callable[[User, list[User]], User]) -> User | None:
        async with transaction(self._pool, "update user") as cur:
            # Every account row locked: a concurrent update_user waits here, then reads what
            # this one wrote (READ COMMITTED re-reads locked rows).
            await cur.execute(QUERIES["lock_users"])
            users = [_user(row) for row in await cur.fetchall()]
            current = next((u for u in users if u.username == username), None)
            if current is None:
                return None
            changed = decide(current, users)
            await cur.execute(QUERIES["upsert_user"], _params(changed))
            return changed
