"""The API's Authenticator on its own: hashing, tokens, settings."""

from __future__ import annotations

import jwt
import pytest
from argon2 import PasswordHasher
from pydantic import ValidationError

from api import Authenticator, AuthSettings
from api.auth import Principal
from hall_controller.fleet.model import Role, User
from hall_controller.users.service import (
    AccountDisabledError,
    InvalidCredentialsError,
    InvalidTokenError,
    ensure_user,
)
from tests.unit.api_support import FAST_HASHER, SECRET


class Users:
    """Just the UserStore port, as a dict."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}

    async def get_user(self, username: str) -> User | None:
        return self.users.get(username)

    async def upsert_user(self, user: User) -> None:
        self.users[user.username] = user


def test_a_short_signing_secret_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        AuthSettings(secret="too-short")


def test_the_secret_does_not_show_in_reprs() -> None:
    assert SECRET not in repr(AuthSettings(secret=SECRET))


async def test_ensure_user_stores_an_argon2_hash_and_resets_the_password() -> None:
    users = Users()
    auth = Authenticator(AuthSettings(secret=SECRET), users, hasher=FAST_HASHER)
    await ensure_user(users, "ada", "first-password", Role.ADMIN, hasher=FAST_HASHER)
    assert users.users["ada"].password_hash.startswith("$argon2id$")
    assert "first-password" not in users.users["ada"].password_hash
    await ensure_user(users, "ada", "second-password", Role.ADMIN, hasher=FAST_HASHER)
    with pytest.raises(InvalidCredentialsError):
        await auth.authenticate("ada", "first-password")
    assert (await auth.authenticate("ada", "second-password")).role is Role.ADMIN


async def test_an_outdated_hash_is_upgraded_at_login() -> None:
    users = Users()
    await ensure_user(users, "fay", "facilities-pass", Role.FACILITIES, hasher=FAST_HASHER)
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    auth = Authenticator(AuthSettings(secret=SECRET), users, hasher=stronger)
    await auth.authenticate("fay", "facilities-pass")
    assert not stronger.check_needs_rehash(users.users["fay"].password_hash)


async def test_tokens_round_trip_and_expire() -> None:
    users = Users()
    await ensure_user(users, "cleo", "clerk-pass-1", Role.CLERK, hasher=FAST_HASHER)
    clock = [1_000_000.0]
    auth = Authenticator(AuthSettings(secret=SECRET, token_ttl_s=60), users, hasher=FAST_HASHER,
                         clock=lambda: clock[0])
    issued = auth.issue_token(await auth.authenticate("cleo", "clerk-pass-1"))
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert claims == {"sub": "cleo", "role": "clerk", "ver": 0, "iat": 1_000_000, "exp": 1_000_060,
                      "iss": "campus-hall"}
    # The real clock is far past 1970 + 1e6 s, so this token is long expired.
    with pytest.raises(InvalidTokenError, match="expired"):
        await auth.principal_for_token(issued.access_token)

    live = Authenticator(AuthSettings(secret=SECRET, token_ttl_s=60), users, hasher=FAST_HASHER)
    token = live.issue_token(users.users["cleo"]).access_token
    assert await live.principal_for_token(token) == Principal("cleo", Role.CLERK)


async def test_disabled_and_vanished_users_lose_their_tokens() -> None:
    users = Users()
    await ensure_user(users, "cleo", "clerk-pass-1", Role.CLERK, hasher=FAST_HASHER)
    auth = Authenticator(AuthSettings(secret=SECRET), users, hasher=FAST_HASHER)
    token = auth.issue_token(users.users["cleo"]).access_token
    users.users["cleo"] = User("cleo", users.users["cleo"].password_hash, Role.CLERK, disabled=True)
    with pytest.raises(AccountDisabledError):
        await auth.principal_for_token(token)
    del users.users["cleo"]
    with pytest.raises(InvalidTokenError, match="no longer exists"):
        await auth.principal_for_token(token)


async def test_overlong_passwords_are_refused_without_hashing() -> None:
    users = Users()
    with pytest.raises(ValueError, match="1 to 1024 characters"):
        await ensure_user(users, "ada", "x" * 2000, Role.ADMIN, hasher=FAST_HASHER)
    users.users["ada"] = User("ada", FAST_HASHER.hash("x" * 2000), Role.ADMIN)
    auth = Authenticator(AuthSettings(secret=SECRET), users, hasher=FAST_HASHER)
    with pytest.raises(InvalidCredentialsError):
        await auth.authenticate("ada", "x" * 2000)


def test_admin_implies_every_role() -> None:
    admin = Principal("ada", Role.ADMIN)
    clerk = Principal("cleo", Role.CLERK)
    assert admin.has_any_role((Role.CLERK,))
    assert admin.has_any_role((Role.FACILITIES,))
    assert clerk.has_any_role((Role.CLERK, Role.FACILITIES))
    assert not clerk.has_any_role((Role.FACILITIES,))
    assert clerk.has_any_role(())
