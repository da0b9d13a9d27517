"""Ports of the users room: what the users service needs stored."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hall_controller.fleet.model import User


# runtime_checkable: the API factory asks whether the store it is handed keeps users too.
@runtime_checkable
class UserStore(Protocol):
    async def get_user(self, username: str) -> User | None: ...
    async def upsert_user(self, user: User) -> None: ...
