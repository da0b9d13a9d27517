"""The users room's account rules: the password policy, the lock-out guard, token revocation
by version, and the first admin from ``auth.admin_password`` (over the memory user store)."""

from __future__ import annotations

import pytest

from api import AuthSettings
from hall_controller.fleet.model import Role, User
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import NotFound
from hall_controller.users.accounts import UserAccounts, ensure_first_admin
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.policy import (
    MIN_PASSWORD_LENGTH,
    admin_guard_problem,
    password_problem,
)
from hall_controller.users.service import (
    AccountChangeRefused,
    InvalidTokenError,
    UserService,
    WrongCurrentPasswordError,
    ensure_user,
)
from tests.unit.api_support import FAST_HASHER, SECRET


async def accounts_with(*users: tuple[str, str, Role]) -> UserAccounts:
    store = MemoryUserStore()
    for username, password, role in users:
        await ensure_user(store, username, password, role, hasher=FAST_HASHER)
    return UserAccounts(UserService(AuthSettings(secret=SECRET), store, hasher=FAST_HASHER))


def test_the_minimum_password_length_is_ten() -> None:
    assert MIN_PASSWORD_LENGTH == 10
    assert password_problem("cleo", "x" * 9) is not None
    assert password_problem("cleo", "x" * 10) is None


@pytest.mark.parametrize("password", ["my-CLEO-pass-1", "cleocleocleo", "xx-Cleo-xx-yy"])
def test_a_password_containing_the_username_in_any_case_is_refused(password: str) -> None:
    refusal = password_problem("cleo", password)
    assert refusal is not None and refusal.message == "a password must not contain the username"
    assert refusal.code is ErrorCode.PASSWORD_CONTAINS_USERNAME


def test_the_new_password_must_differ_from_the_old_one() -> None:
    assert password_problem("cleo", "same-old-pass", old_password="same-old-pass") is not None
    assert password_problem("cleo", "a-new-password", old_password="same-old-pass") is None


def test_an_overlong_password_is_refused() -> None:
    assert password_problem("cleo", "x" * 1025) is not None


async def test_an_admin_cannot_disable_or_demote_themself() -> None:
    accounts = await accounts_with(("ada", "admin-pass-1", Role.ADMIN),
                                   ("abe", "admin-pass-2", Role.ADMIN))
    with pytest.raises(AccountChangeRefused, match="yourself") as refused:
        await accounts.set_disabled("ada", True, by="ada")
    assert refused.value.conflict
    with pytest.raises(AccountChangeRefused, match="yourself"):
        await accounts.set_role("ada", Role.CLERK, by="ada")
    # Another admin may.
    assert (await accounts.set_role("ada", Role.CLERK, by="abe")).role is Role.CLERK


async def test_an_admin_disabled_a_moment_ago_can_change_nobody() -> None:
    accounts = await accounts_with(("ada", "admin-pass-1", Role.ADMIN),
                                   ("abe", "admin-pass-2", Role.ADMIN))
    await accounts.set_disabled("abe", True, by="ada")
    # abe's request raced his own disabling (his token is revoked for the next one): judged on
    # the accounts as they are at the write, he is no admin, and ada stays the enabled admin.
    with pytest.raises(AccountChangeRefused, match="no longer an enabled admin"):
        await accounts.set_disabled("ada", True, by="abe")
    with pytest.raises(AccountChangeRefused, match="no longer an enabled admin"):
        await accounts.set_role("ada", Role.FACILITIES, by="abe")
    stored = await accounts.users.get_user("ada")
    assert stored is not None and stored.role is Role.ADMIN and not stored.disabled


def test_the_last_enabled_admin_cannot_be_disabled_or_demoted() -> None:
    ada = User("ada", "h", Role.ADMIN)
    demoted = User("ada", "h", Role.CLERK)
    # Only reachable by a caller that is not itself an enabled admin (a script, a race): the
    # guard holds on its own.
    users = [ada, User("abe", "h", Role.ADMIN, disabled=True)]
    refusal = admin_guard_problem("abe", ada, demoted, users)
    assert refusal is not None and refusal.code is ErrorCode.ADMIN_LAST
    assert refusal.message == "the last enabled admin cannot be disabled or demoted"
    assert admin_guard_problem("abe", ada, demoted, [*users, User("cy", "h", Role.ADMIN)]) is None


async def test_disabling_a_role_change_and_a_new_password_each_bump_the_token_version() -> None:
    accounts = await accounts_with(("ada", "admin-pass-1", Role.ADMIN),
                                   ("cleo", "clerk-pass-1", Role.CLERK))
    service = accounts.service

    async def version() -> int:
        user = await accounts.users.get_user("cleo")
        assert user is not None
        return user.token_version

    start = await version()
    user = await accounts.users.get_user("cleo")
    assert user is not None
    old_token = service.issue_token(user).access_token
    await accounts.set_disabled("cleo", True, by="ada")
    assert await version() == start + 1
    await accounts.set_disabled("cleo", False, by="ada")
    assert await version() == start + 2
    await accounts.set_role("cleo", Role.FACILITIES, by="ada")
    assert await version() == start + 3
    # Nothing changes, nothing is revoked.
    await accounts.set_role("cleo", Role.FACILITIES, by="ada")
    assert await version() == start + 3
    issued = await accounts.change_own_password("cleo", "clerk-pass-1", "a-better-pass-2")
    assert await version() == start + 4
    with pytest.raises(InvalidTokenError, match="revoked"):
        await service.user_for_token(old_token)
    assert (await service.user_for_token(issued.access_token)).username == "cleo"
    assert (await service.authenticate("cleo", "a-better-pass-2")).username == "cleo"


async def test_a_password_change_needs_the_current_password_and_the_policy() -> None:
    accounts = await accounts_with(("cleo", "clerk-pass-1", Role.CLERK))
    with pytest.raises(WrongCurrentPasswordError):
        await accounts.change_own_password("cleo", "not-my-password", "a-better-pass-2")
    with pytest.raises(AccountChangeRefused, match="at least 10"):
        await accounts.change_own_password("cleo", "clerk-pass-1", "short-1")
    with pytest.raises(AccountChangeRefused, match="username"):
        await accounts.change_own_password("cleo", "clerk-pass-1", "Cleo-is-my-name")
    with pytest.raises(AccountChangeRefused, match="differ"):
        await accounts.change_own_password("cleo", "clerk-pass-1", "clerk-pass-1")
    assert (await accounts.service.authenticate("cleo", "clerk-pass-1")).username == "cleo"


async def test_wrong_current_passwords_count_towards_the_lockout() -> None:
    accounts = await accounts_with(("cleo", "clerk-pass-1", Role.CLERK))
    for _ in range(accounts.service.throttle.policy.max_failures_per_user):
        with pytest.raises(WrongCurrentPasswordError):
            await accounts.change_own_password("cleo", "a-wrong-guess", "a-better-pass-2")
    assert accounts.service.throttle.retry_after("cleo", "elsewhere", 0) > 0


async def test_changing_an_unknown_user_is_not_found() -> None:
    accounts = await accounts_with(("ada", "admin-pass-1", Role.ADMIN))
    with pytest.raises(NotFound):
        await accounts.set_disabled("ghost", True, by="ada")


async def test_the_admin_password_creates_the_first_admin_only() -> None:
    store = MemoryUserStore()
    assert await ensure_first_admin(store, "first-admin-pass", hasher=FAST_HASHER)
    created = store.users["admin"]
    assert created.role is Role.ADMIN
    assert FAST_HASHER.verify(created.password_hash, "first-admin-pass")

    assert not await ensure_first_admin(store, "another-pass-99", hasher=FAST_HASHER)
    assert store.users["admin"] == created  # never reset


async def test_the_admin_password_restores_a_hall_without_an_enabled_admin() -> None:
    store = MemoryUserStore()
    store.users["admin"] = User("admin", FAST_HASHER.hash("old-admin-pass"), Role.ADMIN,
                                disabled=True, token_version=4)
    assert await ensure_first_admin(store, "new-admin-pass", hasher=FAST_HASHER)
    restored = store.users["admin"]
    assert not restored.disabled and restored.token_version == 5
    assert FAST_HASHER.verify(restored.password_hash, "new-admin-pass")
