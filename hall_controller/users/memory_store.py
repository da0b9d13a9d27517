"""``UserStore`` in memory: the fake the API's unit tests run against.

Pure: no I/O. ``users`` is public so tests can look at what was stored, and
``available = False`` makes every call raise StoreUnavailable, as a database outage would.
"""

from __future__ import annotations

from collections.abc import Callable

from hall_controller.fleet.model import User
from hall_controller.kernel.errors import StoreUnavailable


class MemoryUserStore:
    """User accounts, by username."""

    def __init__(self) -> None:
        self.available = True
        self.users: dict[str, User] = {}

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("memory user store set unavailable")

    async def get_user(self, username: str) -> User | None:
        self._check()
        return self.users.get(username)  # frozen: no copy needed

    async def list_users(self) -> list[User]:
        self._check()
        return [self.users[name] for name in sorted(self.users)]

    async def upsert_user(self, user: User) -> None:
        self._check()
        self.users[user.username] = user

    async def update_user(self, username: str,
                          decide: Callable[[User, list[User]], User]) -> User | None:
        # No await between the read and the write: atomic on the event loop.
        self._check()
        current = self.users.get(username)
        if current is None:
            return None
        changed = decide(current, [self.users[name] for name in sorted(self.users)])
        self.users[username] = changed
        return changed
