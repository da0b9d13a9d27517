"""Managing users: the admin's list, disabling and re-enabling, role changes; and every
logged-in user's change of their own password.

The rules (password policy, the lock-out guard, token revocation) are the users room's
(``hall_controller.users.accounts``); refusals come back as 409 (the lock-out guard) or 422
(a weak password), a wrong current password as 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AdminOnly, AnyUser, Authenticator, TokenOut, UserOut, get_authenticator
from hall_controller.fleet.model import Role, User
from hall_controller.users.accounts import UserAccounts
from hall_controller.users.service import MAX_PASSWORD_LENGTH, USERNAME_PATTERN

router = APIRouter(tags=["users"])

Username = Annotated[str, Path(pattern=USERNAME_PATTERN, description="the user's name")]
_GUARDED: dict[int | str, dict[str, Any]] = {404: {"description": "no such user"},
            409: {"description": "refused by the lock-out guard: yourself, or the last "
                                 "enabled admin"}}


def get_accounts(
    authenticator: Annotated[Authenticator, Depends(get_authenticator)],
) -> UserAccounts:
    return authenticator.accounts


Accounts = Annotated[UserAccounts, Depends(get_accounts)]


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(
        min_length=1, max_length=MAX_PASSWORD_LENGTH,
        description="at least 10 characters, not containing the username, not the current one")


def _out(user: User) -> UserOut:
    return UserOut(username=user.username, role=user.role, disabled=user.disabled)


@router.get("/users", response_model=list[UserOut])
async def list_users(principal: AdminOnly, accounts: Accounts) -> list[UserOut]:
    """Every user with their role and whether they are disabled (admin only)."""
    return [_out(u) for u in await accounts.list_users()]


@router.post("/users/{username}/disable", response_model=UserOut, responses=_GUARDED)
async def disable_user(username: Username, principal: AdminOnly, accounts: Accounts) -> UserOut:
    """Disable a user (admin only): they cannot log in, and every token they hold is refused."""
    return _out(await accounts.set_disabled(username, True, by=principal.name))


@router.post("/users/{username}/enable", response_model=UserOut,
             responses={404: {"description": "no such user"}})
async def enable_user(username: Username, principal: AdminOnly, accounts: Accounts) -> UserOut:
    """Re-enable a user (admin only); they log in again (their old tokens stay refused)."""
    return _out(await accounts.set_disabled(username, False, by=principal.name))


@router.put("/users/{username}/role", response_model=UserOut, responses=_GUARDED)
async def change_role(username: Username, body: RoleChange, principal: AdminOnly,
                      accounts: Accounts) -> UserOut:
    """Give a user another role (admin only); every token they hold is refused."""
    return _out(await accounts.set_role(username, body.role, by=principal.name))


@router.post("/auth/password", response_model=TokenOut, responses={
    403: {"description": "the current password is wrong"},
    422: {"description": "the new password is refused (too short, contains the username, "
                         "or is the current one)"},
    429: {"description": "too many wrong passwords; Retry-After says when to try again"},
    503: {"description": "too many password checks at once; Retry-After says when"},
})
async def change_my_password(request: Request, body: PasswordChange, principal: AnyUser,
                             accounts: Accounts) -> TokenOut:
    """Change your own password (any logged-in user), giving the current one. Every token you
    held is revoked; the answer is a new token for this session."""
    client = request.client.host if request.client is not None else "unknown"
    issued = await accounts.change_own_password(principal.name, body.current_password,
                                                body.new_password, client=client)
    return TokenOut(access_token=issued.access_token, role=issued.role,
                    expires_in=issued.expires_in)
