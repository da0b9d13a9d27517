"""Ports of the users room: what the users service needs stored, and where lockouts go."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from hall_controller.fleet.model import User
from hall_controller.users.rules import Lockout


# runtime_checkable: the API factory asks whether the store it is handed keeps users too.
@runtime_checkable
class UserStore(Protocol):
    async def get_user(self, username: str) -> User | None: ...
    async def list_users(self) -> list[User]:
        """Every account, by username."""
    async def upsert_user(self, user: User) -> None: ...
    async def update_user(self, username: str,
                          decide: Callable[[User, list[User]], User]) -> User | None:
        """Store ``decide(current, every_account)`` for ``username`` and return it, with no
        other ``update_user`` between the read and the write (the last-admin rule reads every
        account: two admins demoting each other at once must not both pass). ``decide`` may
        raise to change nothing. None when there is no such user."""


class LockoutAudit(Protocol):
    """Records a login lockout where staff can see it."""

    async def lockout(self, lockout: Lockout) -> None: ...
