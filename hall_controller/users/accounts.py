"""Managing accounts: the admin's list, disabling, re-enabling and role changes, a user's change
of their own password, and the first admin of a new hall.

Every change that takes a right away (disabling, a role change, a new password) raises the
user's token version, so every token issued before it is refused at once (``service``). The
rules are ``policy``'s: a password of ``MIN_PASSWORD_LENGTH`` or more that does not contain
the username; an admin cannot disable or demote themself, and the last enabled admin stays.

The check and the write are one step of the store (``UserStore.update_user``): two admins
demoting each other at the same instant, in one controller or two, cannot both pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from argon2 import PasswordHasher

from hall_controller.fleet.model import Role, User
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import NotFound
from hall_controller.users.policy import Refusal, admin_guard_problem, password_problem
from hall_controller.users.ports import UserStore
from hall_controller.users.service import (
    AccountChangeRefused,
    IssuedToken,
    UserService,
    hash_password,
)

logger = logging.getLogger(__name__)


def _is_enabled_admin(username: str, users: list[User]) -> bool:
    return any(u.username == username and u.role is Role.ADMIN and not u.disabled
               for u in users)

FIRST_ADMIN = "admin"


class UserAccounts:
    """The account use cases over the users service (its store, hashing and throttle)."""

    def __init__(self, service: UserService) -> None:
        self.service = service

    @property
    def users(self) -> UserStore:
        return self.service.users

    async def list_users(self) -> list[User]:
        return await self.users.list_users()

    async def _get(self, username: str) -> User:
        user = await self.users.get_user(username)
        if user is None:
            raise NotFound(f"no user {username!r}",
                           code=ErrorCode.USER_UNKNOWN, user=username)
        return user

    async def _change(self, actor: str, username: str, change: Callable[[User], User],
                      what: str) -> User:
        """Apply ``change`` to ``username`` if the admin guard allows it, judged on the
        accounts as they are at the write. Raises NotFound or AccountChangeRefused."""

        def decide(target: User, users: list[User]) -> User:
            if not _is_enabled_admin(actor, users):
                # Disabled or demoted a moment ago, by another admin: their token is revoked.
                raise AccountChangeRefused(Refusal("you are no longer an enabled admin",
                                                   ErrorCode.ADMIN_NO_LONGER), conflict=True)
            changed = change(target)
            problem = admin_guard_problem(actor, target, changed, users)
            if problem is not None:
                raise AccountChangeRefused(problem, conflict=True)
            if changed == target:
                return target  # nothing changes, so no token needs revoking
            return replace(changed, token_version=target.token_version + 1)

        before = await self._get(username)
        changed = await self.users.update_user(username, decide)
        if changed is None:
            raise NotFound(f"no user {username!r}",
                           code=ErrorCode.USER_UNKNOWN, user=username)
        if changed.token_version != before.token_version:
            logger.info("user %s %s by %s; their earlier tokens are revoked", username, what,
                        actor, extra={"username": username, "by": actor, "change": what})
        return changed

    async def set_disabled(self, username: str, disabled: bool, *, by: str) -> User:
        """Disable or re-enable ``username``. Raises NotFound or AccountChangeRefused."""
        return await self._change(by, username, lambda u: replace(u, disabled=disabled),
                                  "disabled" if disabled else "enabled")

    async def set_role(self, username: str, role: Role, *, by: str) -> User:
        """Give ``username`` another role. Raises NotFound or AccountChangeRefused."""
        return await self._change(by, username, lambda u: replace(u, role=role),
                                  f"made {role.value}")

    async def change_own_password(self, username: str, current_password: str,
                                  new_password: str, *, client: str = "unknown") -> IssuedToken:
        """``username`` changes their password, proving the current one; every token they
        held before is revoked and a fresh one for this session is returned.

        Raises NotFound, WrongCurrentPasswordError, LoginLockedError, HashingBusyError or
        AccountChangeRefused.
        """
        user = await self._get(username)
        await self.service.check_current_password(user, current_password, client)
        problem = password_problem(username, new_password, old_password=current_password)
        if problem is not None:
            raise AccountChangeRefused(problem)
        changed = replace(user, password_hash=await self.service.hash_password(new_password),
                          token_version=user.token_version + 1)
        await self.users.upsert_user(changed)
        logger.info("user %s changed their password; their earlier tokens are revoked",
                    username, extra={"username": username})
        return self.service.issue_token(changed)


async def ensure_first_admin(store: UserStore, password: str, *,
                             hasher: PasswordHasher | None = None) -> bool:
    """Create the admin ``admin`` with ``password`` (``auth.admin_password``) when the hall has
    no enabled admin; True when it did. An existing admin's password is never reset: when an
    enabled admin exists the password is ignored, and that is logged.

    A hall whose admins are all disabled or demoted gets ``admin`` back, enabled, with this
    password: the one way in again; that is logged as a warning.
    """
    users = await store.list_users()
    if any(u.role is Role.ADMIN and not u.disabled for u in users):
        logger.warning("auth.admin_password ignored: an enabled admin exists, and an existing "
                       "admin's password is never reset; change it on the users page")
        return False
    existing = next((u for u in users if u.username == FIRST_ADMIN), None)
    hashed = await hash_password(password, hasher)
    if existing is None:
        await store.upsert_user(User(FIRST_ADMIN, hashed, Role.ADMIN))
        logger.info("first admin %r created from auth.admin_password", FIRST_ADMIN)
    else:
        await store.upsert_user(replace(existing, password_hash=hashed, role=Role.ADMIN,
                                        disabled=False,
                                        token_version=existing.token_version + 1))
        logger.warning("no enabled admin: %r re-enabled as admin with auth.admin_password",
                       FIRST_ADMIN)
    return True
