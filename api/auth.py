"""Logins, tokens and roles for the HTTP API.

Passwords are hashed with argon2id; a login returns a JWT (HS256) carrying ``sub``, ``role``,
``iat`` and ``exp``.  Every request re-reads the user from the store, so disabling or demoting
someone takes effect at once rather than when their token expires.  Roles: ``clerk``,
``facilities``, ``admin``; admin implies every role.

Integration clients (the online service platform) authenticate with API keys
(``X-Api-Key: hk_...`` or ``Authorization: ApiKey hk_...``), resolved in
:func:`current_principal`, the one place that turns a request into a :class:`Principal`.  A
key has scopes, not a role: role-guarded routes refuse it, and the integration routes ask for
a scope with :func:`require_scope` (which lets admins in too).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hall_controller.cases.integration_keys import ApiKeyService
from hall_controller.fleet.model import Role, User
from hall_controller.fleet.ports import UserStore

logger = logging.getLogger(__name__)

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a URL, not a secret
API_KEY_HEADER = "X-Api-Key"
_ALGORITHM = "HS256"
# Longer passwords add nothing but hashing cost; refusing them keeps a login flood cheap.
MAX_PASSWORD_LENGTH = 1024
MIN_PASSWORD_LENGTH = 8
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


class AuthError(Exception):
    """Base of the API's authentication errors; the app turns them into 401/403."""


class InvalidCredentialsError(AuthError):
    """Wrong password or unknown user: one message for both, so usernames cannot be probed."""

    def __init__(self) -> None:
        super().__init__("incorrect username or password")


class InvalidTokenError(AuthError):
    """The bearer token is missing, malformed, forged, expired or names a user that is gone."""


class InvalidApiKeyError(AuthError):
    """The API key is malformed, unknown, wrong or revoked (one message for all of them)."""

    def __init__(self) -> None:
        super().__init__("invalid or revoked API key")


class AccountDisabledError(AuthError):
    """The credentials are right but the account is disabled."""

    def __init__(self) -> None:
        super().__init__("this account is disabled")


class AuthSettings(BaseModel):
    """What the API needs to issue and check tokens.

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
class Principal:
    """Who is calling: a logged-in user (with a role) or an integration client's API key
    (``kind="api_key"``, no role, some scopes)."""

    name: str
    role: Role | None
    kind: Literal["user", "api_key"] = "user"
    scopes: frozenset[str] = frozenset()

    def has_any_role(self, roles: tuple[Role, ...]) -> bool:
        """Admin implies every role; no roles asked means any logged-in user. An API key has
        no role, so it never passes: keys are for the integration routes only."""
        if self.kind != "user" or self.role is None:
            return False
        return not roles or self.role is Role.ADMIN or self.role in roles

    def has_scope(self, scope: str) -> bool:
        return self.kind == "api_key" and scope in self.scopes


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
    """Create the user, or reset their password and role and re-enable them (the demo's admin).

    Raises ValueError for a password that could never be used to log in.
    """
    if not password or len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password must be 1 to {MAX_PASSWORD_LENGTH} characters")
    user = User(username=username, password_hash=await hash_password(password, hasher), role=role)
    await store.upsert_user(user)
    logger.info("user %s ensured with role %s", username, role.value,
                extra={"username": username, "role": role.value})
    return user


class Authenticator:
    """Checks passwords, issues tokens and turns tokens back into principals."""

    def __init__(
        self, settings: AuthSettings, users: UserStore, *, hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.users = users
        self._hasher = hasher or default_hasher()
        self._clock = clock
        # Set by create_app when the online-case integration is mounted; without it every
        # API key is refused.
        self.api_keys: ApiKeyService | None = None
        # Verified against when the user is unknown, so a miss costs as long as a wrong password.
        self._dummy_hash = self._hasher.hash("timing-equaliser-not-a-password")

    async def hash_password(self, password: str) -> str:
        return await hash_password(password, self._hasher)

    async def authenticate(self, username: str, password: str) -> User:
        """The user if the password is right.

        Raises InvalidCredentialsError (wrong password or unknown user) or AccountDisabledError.
        """
        if len(password) > MAX_PASSWORD_LENGTH:
            raise InvalidCredentialsError
        # A name no account can have (NUL, for one, which the database cannot even compare) is
        # an unknown user: no lookup, but the same dummy verification, so the answer is the same.
        user = (await self.users.get_user(username)
                if re.fullmatch(USERNAME_PATTERN, username) else None)
        matches = await self._verify(user.password_hash if user else self._dummy_hash, password)
        if user is None or not matches:
            logger.info("login refused for %r", username, extra={"username": username})
            raise InvalidCredentialsError
        if user.disabled:
            raise AccountDisabledError
        if self._hasher.check_needs_rehash(user.password_hash):
            # The hashing parameters were raised since this hash was made: upgrade it now,
            # while the password is at hand.
            user = replace(user, password_hash=await self.hash_password(password))
            await self.users.upsert_user(user)
        return user

    async def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def issue_token(self, user: User) -> IssuedToken:
        now = int(self._clock())
        ttl = self.settings.token_ttl_s
        claims = {"sub": user.username, "role": user.role.value, "iat": now, "exp": now + ttl,
                  "iss": self.settings.issuer}
        token = jwt.encode(claims, self.settings.secret, algorithm=_ALGORITHM)
        return IssuedToken(access_token=token, role=user.role, expires_in=ttl)

    async def principal_for_token(self, token: str) -> Principal:
        """Verify the token and the account behind it.

        Raises InvalidTokenError or AccountDisabledError.
        """
        try:
            claims = jwt.decode(
                token, self.settings.secret, algorithms=[_ALGORITHM],
                issuer=self.settings.issuer, options={"require": ["sub", "role", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("the token has expired; log in again") from None
        except jwt.InvalidTokenError:
            raise InvalidTokenError("invalid token") from None
        username = claims["sub"]
        user = await self.users.get_user(username) if isinstance(username, str) else None
        if user is None:
            raise InvalidTokenError("invalid token: the account no longer exists")
        if user.disabled:
            raise AccountDisabledError
        # The stored role wins over the token's, so a demotion applies to live tokens too.
        return Principal(name=user.username, role=user.role)

    async def principal_for_api_key(self, presented: str) -> Principal:
        """The integration client whose active key this is. Raises InvalidApiKeyError."""
        key = None if self.api_keys is None else await self.api_keys.resolve(presented)
        if key is None:
            raise InvalidApiKeyError
        return Principal(name=f"api-key:{key.key_id}", role=None, kind="api_key",
                         scopes=frozenset(s.value for s in key.scopes))


def get_authenticator(request: Request) -> Authenticator:
    authenticator = getattr(request.app.state, "authenticator", None)
    if not isinstance(authenticator, Authenticator):
        raise RuntimeError("the app was not built by api.create_app (no authenticator)")
    return authenticator


_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
# Read from the request by current_principal; the integration routers list it as a dependency
# too, only so that the docs show the API key scheme on the routes that accept keys.
api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                              description="an integration client's API key (hk_...)")
_API_KEY_SCHEME = "apikey"


async def current_principal(
    request: Request,
    authenticator: Annotated[Authenticator, Depends(get_authenticator)],
    token: Annotated[str | None, Depends(_bearer)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``, or from an API key in
    ``X-Api-Key`` or ``Authorization: ApiKey <key>``."""
    api_key = request.headers.get(API_KEY_HEADER)
    if api_key is None:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == _API_KEY_SCHEME:
            api_key = credentials
    if api_key is not None:
        return await authenticator.principal_for_api_key(api_key)
    if token is None:
        raise InvalidTokenError("not authenticated: log in at " + TOKEN_URL)
    return await authenticator.principal_for_token(token)


def require_role(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets in callers with one of ``roles`` (admin always; none = any user)."""

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if not principal.has_any_role(roles):
            needed = ", ".join(sorted({r.value for r in roles} | {Role.ADMIN.value}))
            you = "an API key" if principal.role is None else principal.role.value
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs one of the roles {needed}; you are {you}",
            )
        return principal

    return dependency


def require_scope(scope: str, *roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets in API keys with ``scope``, and users with one of ``roles``
    (admin always)."""

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if principal.has_scope(scope) or principal.has_any_role((*roles, Role.ADMIN)):
            return principal
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"this needs an API key with the scope {scope}"
                            + (" or a staff login" if roles else " or an admin login"))

    return dependency


# The role sets the routes use.  Clerks may look (is my window's display online?); changing a
# device or an alarm is for facilities staff; managing users is for admins.
AnyUser = Annotated[Principal, Depends(require_role())]
Staff = Annotated[Principal, Depends(require_role(Role.CLERK, Role.FACILITIES))]
Facilities = Annotated[Principal, Depends(require_role(Role.FACILITIES))]
AdminOnly = Annotated[Principal, Depends(require_role(Role.ADMIN))]


# ---------------------------------------------------------------------------------------------
# Routes


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    role: Role
    expires_in: int = Field(description="seconds until the token expires")


class MeOut(BaseModel):
    username: str
    role: Role | None
    kind: Literal["user", "api_key"]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN, description="letters, digits, _ . @ -")
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    role: Role
    disabled: bool = False


class UserOut(BaseModel):
    username: str
    role: Role
    disabled: bool


router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenOut)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    authenticator: Annotated[Authenticator, Depends(get_authenticator)],
) -> TokenOut:
    """Log in with username and password (OAuth2 password form); returns a bearer token."""
    user = await authenticator.authenticate(form.username, form.password)
    issued = authenticator.issue_token(user)
    return TokenOut(access_token=issued.access_token, role=issued.role,
                    expires_in=issued.expires_in)


@router.get("/auth/me", response_model=MeOut)
async def me(principal: Annotated[Principal, Depends(current_principal)]) -> MeOut:
    """Who the token (or API key) belongs to, and their role (none for an API key)."""
    return MeOut(username=principal.name, role=principal.role, kind=principal.kind)


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED,
             tags=["users"], responses={409: {"description": "the username is taken"}})
async def create_user(
    body: UserCreate, principal: AdminOnly,
    authenticator: Annotated[Authenticator, Depends(get_authenticator)],
) -> UserOut:
    """Create a user (admin only). The password is stored as an argon2 hash."""
    users = authenticator.users
    if await users.get_user(body.username) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.username!r} already exists")
    password_hash = await authenticator.hash_password(body.password)
    user = User(username=body.username, password_hash=password_hash, role=body.role,
                disabled=body.disabled)
    await users.upsert_user(user)
    logger.info("user %s created with role %s by %s", user.username, user.role.value,
                principal.name,
                extra={"username": user.username, "role": user.role.value, "by": principal.name})
    return UserOut(username=user.username, role=user.role, disabled=user.disabled)
