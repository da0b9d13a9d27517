"""The rules an account change must pass: what makes a password acceptable, and the lock-out
guard that keeps the hall from losing its last admin.

Pure: each function looks only at what it is handed and returns the reason for a refusal, or
None; the accounts service (``accounts``) turns a reason into ``AccountChangeRefused``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hall_controller.fleet.model import Role, User
from hall_controller.kernel.error_codes import ErrorCode


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a change is refused: in English, and as a stable code with its parameters."""

    message: str
    code: ErrorCode
    params: dict[str, int] = field(default_factory=dict)

# Ten characters: long enough that a password worth typing is out of reach of an offline guess
# at argon2 speed, short enough for a passphrase of two or three words.
MIN_PASSWORD_LENGTH = 10
# Longer passwords add nothing but hashing cost; refusing them keeps a login flood cheap.
MAX_PASSWORD_LENGTH = 1024


def password_problem(username: str, new_password: str, *,
                     old_password: str | None = None) -> Refusal | None:
    """Why ``new_password`` cannot be ``username``'s password, or None when it can."""
    if len(new_password) < MIN_PASSWORD_LENGTH:
        return Refusal(f"a password must be at least {MIN_PASSWORD_LENGTH} characters",
                       ErrorCode.PASSWORD_TOO_SHORT, {"min": MIN_PASSWORD_LENGTH})
    if len(new_password) > MAX_PASSWORD_LENGTH:
        return Refusal(f"a password must be at most {MAX_PASSWORD_LENGTH} characters",
                       ErrorCode.PASSWORD_TOO_LONG, {"max": MAX_PASSWORD_LENGTH})
    if username.casefold() in new_password.casefold():
        return Refusal("a password must not contain the username",
                       ErrorCode.PASSWORD_CONTAINS_USERNAME)
    if old_password is not None and new_password == old_password:
        return Refusal("the new password must differ from the current one",
                       ErrorCode.PASSWORD_UNCHANGED)
    return None


def _enabled_admins(users: Iterable[User]) -> set[str]:
    return {u.username for u in users if u.role is Role.ADMIN and not u.disabled}


def admin_guard_problem(actor: str, target: User, changed: User,
                        users: Iterable[User]) -> Refusal | None:
    """Why ``actor`` may not turn ``target`` into ``changed`` (``users``: every account as it
    stands), or None. An admin may not disable or demote themself, and the last enabled admin
    may be neither disabled nor demoted: either would leave nobody to undo it."""
    was_admin = target.role is Role.ADMIN and not target.disabled
    stays_admin = changed.role is Role.ADMIN and not changed.disabled
    if not was_admin or stays_admin:
        return None
    if target.username == actor:
        return Refusal("you cannot disable or demote yourself; ask another admin",
                       ErrorCode.ADMIN_SELF_DEMOTE)
    if _enabled_admins(users) <= {target.username}:
        return Refusal("the last enabled admin cannot be disabled or demoted",
                       ErrorCode.ADMIN_LAST)
    return None
