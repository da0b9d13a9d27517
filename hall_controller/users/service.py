"""The users service: password hashing, user accounts, logins and bearer tokens.

Passwords are hashed with argon2id; a login returns a JWT (HS256) carrying ``sub``, ``role``,
``ver``, ``iat``, ``exp`` and ``iss``. A token is checked against the stored account every
time: its ``ver`` must be the account's token version, which disabling the user, changing their
role or their password raises (``accounts``), so every token issued before is refused at once
rather than when it expires.
Roles: ``clerk``, ``facilities``, ``admin``.

Logins are throttled (``rules.LoginThrottle``): failures counted per username and per client
address lock them out for a time that grows, a locked attempt is refused before any lookup or
hash, and each lockout goes to the ``LockoutAudit``. Every argon2 hash runs in a thread behind
``HashSlots``, so a login storm occupies at most a few cores and waits a bounded time.

The HTTP API (``api.auth``) turns requests into calls of this service and its errors into
401/403/429/503; nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hall_controller.fleet.model import Role, User
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, HallError
from hall_controller.users.policy import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    Refusal,
    password_problem,
)
from hall_controller.users.ports import LockoutAudit, UserStore
from hall_controller.users.rules import LoginThrottle, ThrottlePolicy

logger = logging.getLogger(__name__)

T = TypeVar("T")

_ALGORITHM = "HS256"
__all__ = ["MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "USERNAME_PATTERN", "UserService"]
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


class AuthError(Exception):
    """Base of the authentication errors; the API turns them into 401/403."""


class InvalidCredentialsError(AuthError):
    """Wrong password or unknown user: one message for both, so usernames cannot be probed."""

    def __init__(self) -> None:
        super().__init__("incorrect username or password")


class InvalidTokenError(AuthError):
    """The bearer token is missing, malformed, forged, expired or names a user that is gone."""


class AccountDisabledError(AuthError):
    """The credentials are right but the account is disabled."""

    def __init__(self) -> None:
        super().__init__("this account is disabled")


class LoginLockedError(AuthError):
    """Too many failed logins for this user or from this address: refused without checking
    the password. The message is the same for both and for unknown users."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__("too many failed logins; try again in "
                         f"{self.retry_after_s} s")


class HashingBusyError(AuthError):
    """Every password-hashing slot stayed busy for longer than the wait allows."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__("too many logins at once; try again shortly")


class AccountChangeRefused(HallError):
    """An account change the rules refuse: a weak password, or the lock-out guard (the API
    answers 422 or 409 as ``conflict`` says)."""

    def __init__(self, refusal: Refusal, *, conflict: bool = False) -> None:
        super().__init__(refusal.message, code=refusal.code, **refusal.params)
        self.conflict = conflict


class WrongCurrentPasswordError(AuthError):
    """A password change named the wrong current password (counted like a failed login)."""

    def __init__(self) -> None:
        super().__init__("the current password is wrong")


class HashSlots:
    """At most ``size`` argon2 hashes at once, each in a worker thread.

    One hash costs about 0.2 s of CPU and 64 MiB here; without a cap a login storm would take
    every core (argon2 releases the GIL) and the memory with them, and the controller's ingest
    would starve. A caller that cannot get a slot within ``wait_s`` gets HashingBusyError
    instead of queueing without bound.
    """

    def __init__(self, size: int = 2, wait_s: float = 2.0) -> None:
        if size < 1 or wait_s <= 0:
            raise ValueError("expected at least one hashing slot and a positive wait")
        self.size = size
        self.wait_s = wait_s
        self._slots = asyncio.Semaphore(size)

    async def run(self, work: Callable[[], T], *, first: Callable[[], None] = lambda: None) -> T:
        """``work()`` in a thread once a slot is free; ``first()`` runs when the slot is taken
        (a last check that may raise, so an attempt that waited is judged on the present)."""
        try:
            async with asyncio.timeout(self.wait_s):
                await self._slots.acquire()
        except TimeoutError:
            raise HashingBusyError(self.wait_s) from None
        try:
            first()
            running = asyncio.get_running_loop().run_in_executor(None, work)
        except BaseException:
            self._slots.release()
            raise
        try:
            result = await asyncio.shield(running)
        except asyncio.CancelledError:
            # The caller stopped waiting, the thread did not: the hash holds its slot until
            # it ends.
            running.add_done_callback(lambda _: self._slots.release())
            raise
        except BaseException:
            self._slots.release()
            raise
        # Released before the caller resumes; the next waiter runs only once the caller yields,
        # after it has counted this attempt (so a failure that locks stops those waiting).
        self._slots.release()
        return result


class AuthSettings(BaseModel):
    """What the service needs to issue and check tokens.

    The composition root builds it from ``hall.config.AuthConfig``: ``secret`` is
    ``auth.secret`` (or the one generated into the data dir), ``token_ttl_s`` is
    ``auth.token_ttl_s``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # repr=False keeps the key out of logs and tracebacks that print the settings.
    secret: str = Field(repr=False, description="HS256 signing key, at least 32 characters")
    token_ttl_s: int = Field(default=8 * 3600, ge=60, description="how long a token is valid")
    issuer: str = Field(default="campus-hall", min_length=1, description="the tokens' iss claim")

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        # HS256 wants a key of at least 256 bits (RFC 7518 §3.2); a short one can be brute-forced.
        if len(value) < 32:
            raise ValueError("the token signing secret must be at least 32 characters")
        return value


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    role: Role
    expires_in: int


def default_hasher() -> PasswordHasher:
    """argon2id with the library's current recommended parameters."""
    return PasswordHasher()


async def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """Hash off the event loop: one argon2 hash takes ~0.2 s of CPU here."""
    return await asyncio.to_thread((hasher or default_hasher()).hash, password)


async def ensure_user(
    store: UserStore, username: str, password: str, role: Role,
    *, hasher: PasswordHasher | None = None,
) -> User:
    """Create the user, or reset their password and role and re-enable them (tests, and the
    recovery of a hall without an enabled admin). A reset raises the token version, so the
    account's earlier tokens are refused.

    Raises ValueError for a password that could never be used to log in.
    """
    if not password or len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password must be 1 to {MAX_PASSWORD_LENGTH} characters")
    existing = await store.get_user(username)
    user = User(username=username, password_hash=await hash_password(password, hasher), role=role,
                token_version=0 if existing is None else existing.token_version + 1)
    await store.upsert_user(user)
    logger.info("user %s ensured with role %s", username, role.value,
                extra={"username": username, "role": role.value})
    return user


class UserService:
    """Checks passwords, creates users, issues tokens and turns tokens back into users.

    ``throttle``: when failed logins lock a user or an address; ``hash_slots``: how many
    hashes run at once; ``lockout_audit``: where lockouts are recorded (set later by the
    app factory when it is not given here). ``clock`` (seconds since the epoch) times both
    tokens and lockouts.
    """

    def __init__(
        self, settings: AuthSettings, users: UserStore, *, hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time, throttle: ThrottlePolicy | None = None,
        hash_slots: HashSlots | None = None, lockout_audit: LockoutAudit | None = None,
    ) -> None:
        self.settings = settings
        self.users = users
        self._hasher = hasher or default_hasher()
        self._clock = clock
        self.throttle = LoginThrottle(throttle or ThrottlePolicy())
        self.hash_slots = hash_slots or HashSlots()
        self.lockout_audit = lockout_audit
        # Verified against when the user is unknown, so a miss costs as long as a wrong password.
        self._dummy_hash = self._hasher.hash("timing-equaliser-not-a-password")

    async def hash_password(self, password: str) -> str:
        return await self.hash_slots.run(lambda: self._hasher.hash(password))

    async def authenticate(self, username: str, password: str, client: str = "unknown") -> User:
        """The user if the password is right; ``client`` is the caller's address.

        Raises LoginLockedError (the user or the address is locked out: nothing is checked),
        HashingBusyError, InvalidCredentialsError (wrong password or unknown user) or
        AccountDisabledError.
        """
        self._refuse_if_locked(username, client)
        if len(password) > MAX_PASSWORD_LENGTH:
            await self._failed(username, client)
            raise InvalidCredentialsError
        # A name no account can have (NUL, for one, which the database cannot even compare) is
        # an unknown user: no lookup, but the same dummy verification, so the answer is the same.
        user = (await self.users.get_user(username)
                if re.fullmatch(USERNAME_PATTERN, username) else None)
        matches = await self._verify(user.password_hash if user else self._dummy_hash, password,
                                     first=lambda: self._refuse_if_locked(username, client))
        if user is None or not matches:
            await self._failed(username, client)
            raise InvalidCredentialsError
        if user.disabled:
            # The password was right, so this is no guess to count; nor a login to reset on.
            raise AccountDisabledError
        self.throttle.record_success(username)
        if self._hasher.check_needs_rehash(user.password_hash):
            # The hashing parameters were raised since this hash was made: upgrade it now,
            # while the password is at hand.
            try:
                user = replace(user, password_hash=await self.hash_password(password))
            except HashingBusyError:
                return user  # the login stands; the upgrade waits for a quieter one
            await self.users.upsert_user(user)
        return user

    async def check_current_password(self, user: User, password: str, client: str) -> None:
        """For a change of ``user``'s own account: the password they gave must be their
        current one. A wrong one counts as a failed login (a stolen token must not become a
        free password oracle). Raises LoginLockedError, HashingBusyError or
        WrongCurrentPasswordError."""
        self._refuse_if_locked(user.username, client)
        if len(password) > MAX_PASSWORD_LENGTH or not await self._verify(
                user.password_hash, password,
                first=lambda: self._refuse_if_locked(user.username, client)):
            await self._failed(user.username, client)
            raise WrongCurrentPasswordError
        self.throttle.record_success(user.username)

    def _refuse_if_locked(self, username: str, client: str) -> None:
        wait_s = self.throttle.retry_after(username, client, self._clock())
        if wait_s > 0:
            raise LoginLockedError(wait_s)

    async def _failed(self, username: str, client: str) -> None:
        """Count the failure and record any lockout it starts; the caller refuses."""
        logger.info("login refused for %r from %s", username, client,
                    extra={"username": username, "client": client})
        for lockout in self.throttle.record_failure(username, client, self._clock()):
            logger.warning(
                "login lockout of %s %r (%s failures; lockout %s, until %s) after %r from %s",
                lockout.kind.value, lockout.key, lockout.failures, lockout.nth,
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(lockout.locked_until)),
                username, client,
                extra={"lockout_kind": lockout.kind.value, "username": username,
                       "client": client, "failures": lockout.failures,
                       "locked_until": lockout.locked_until})
            if self.lockout_audit is not None:
                try:
                    await self.lockout_audit.lockout(lockout)
                except Exception:
                    # The audit's store may be down; the lockout holds all the same.
                    logger.exception("could not record the login lockout")

    async def _verify(self, password_hash: str, password: str, *,
                      first: Callable[[], None]) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await self.hash_slots.run(verify, first=first)

    def issue_token(self, user: User) -> IssuedToken:
        now = int(self._clock())
        ttl = self.settings.token_ttl_s
        claims = {"sub": user.username, "role": user.role.value, "ver": user.token_version,
                  "iat": now, "exp": now + ttl, "iss": self.settings.issuer}
        token = jwt.encode(claims, self.settings.secret, algorithm=_ALGORITHM)
        return IssuedToken(access_token=token, role=user.role, expires_in=ttl)

    async def user_for_token(self, token: str) -> User:
        """Verify the token and the account behind it; the stored account is returned, so
        its role wins over the token's (a demotion applies to live tokens too).

        Raises InvalidTokenError or AccountDisabledError.
        """
        try:
            claims = jwt.decode(
                token, self.settings.secret, algorithms=[_ALGORITHM],
                issuer=self.settings.issuer, options={"require": ["sub", "role", "ver", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("the token has expired; log in again") from None
        except jwt.InvalidTokenError:
            raise InvalidTokenError("invalid token") from None
        username = claims["sub"]
        user = await self.users.get_user(username) if isinstance(username, str) else None
        if user is None:
            raise InvalidTokenError("invalid token: the account no longer exists")
        if claims["ver"] != user.token_version:
            raise InvalidTokenError("the token was revoked (the account changed); log in again")
        if user.disabled:
            raise AccountDisabledError
        return user

    async def create_user(self, username: str, password: str, role: Role, *,
                          disabled: bool = False, by: str) -> User:
        """A new user, its password stored as an argon2 hash; raises Conflict if the
        username is taken. ``by`` (who asked) goes to the log."""
        if (problem := password_problem(username, password)) is not None:
            raise AccountChangeRefused(problem)
        if await self.users.get_user(username) is not None:
            raise Conflict(f"user {username!r} already exists",
                           code=ErrorCode.USER_EXISTS, user=username)
        user = User(username=username, password_hash=await self.hash_password(password),
                    role=role, disabled=disabled)
        await self.users.upsert_user(user)
        logger.info("user %s created with role %s by %s", user.username, user.role.value, by,
                    extra={"username": user.username, "role": user.role.value, "by": by})
        return user
