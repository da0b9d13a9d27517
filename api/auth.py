"""The HTTP API's side of logins and roles: FastAPI dependencies that turn a request into a
:class:`Principal`, and the auth and user routes.

Passwords, tokens and user accounts are the users service's
(``hall_controller.users.service``); this module calls it. Every request re-reads the user
through it and compares the token's version with the account's, so disabling or demoting
someone, or a new password, refuses their earlier tokens at once (the routes that manage
users are in ``api.routes.users``). Roles: ``clerk``,
``facilities``, ``admin``; admin implies every role.

Signed-on pages (``hall_controller.sign_on``) send a session cookie instead of a token; a
state-changing request made with it must carry the session's CSRF token in ``X-CSRF-Token``
(``api.session_cookies``). A bearer token, when present, wins over the cookie.

Integration clients (the online service platform) authenticate with API keys
(``X-Api-Key: hk_...`` or ``Authorization: ApiKey hk_...``), resolved in
:func:`current_principal`, the one place that turns a request into a :class:`Principal`.  A
key has scopes, not a role: role-guarded routes refuse it, and the integration routes ask for
a scope with :func:`require_scope` (which lets admins in too).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from argon2 import PasswordHasher
from fastapi import APIRouter, Depends, Request, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from api.refusal import ApiRefusal
from api.session_cookies import CSRF_HEADER, SAFE_METHODS, SessionCookies
from hall_controller.cases.integration_keys import ApiKeyService
from hall_controller.fleet.model import Role, User
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.sign_on.service import SignOnService
from hall_controller.users.accounts import UserAccounts
from hall_controller.users.ports import UserStore
from hall_controller.users.rules import ThrottlePolicy
from hall_controller.users.service import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    USERNAME_PATTERN,
    AuthError,
    AuthSettings,
    HashSlots,
    InvalidTokenError,
    IssuedToken,
    UserService,
)

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a URL, not a secret
API_KEY_HEADER = "X-Api-Key"


class InvalidApiKeyError(AuthError):
    """The API key is malformed, unknown, wrong or revoked (one message for all of them)."""

    def __init__(self) -> None:
        super().__init__("invalid or revoked API key")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a logged-in user (with a role) or an integration client's API key
    (``kind="api_key"``, no role, some scopes)."""

    name: str
    role: Role | None
    kind: Literal["user", "api_key"] = "user"
    scopes: frozenset[str] = frozenset()
    # Set for a signed-on page session: whether they are a student or staff, and the
    # person_id access control and cases know them by.
    person_kind: str | None = None
    person_id: str | None = None
    signed_on: bool = False

    def has_any_role(self, roles: tuple[Role, ...]) -> bool:
        """Admin implies every role; no roles asked means any logged-in user. An API key has
        no role, so it never passes: keys are for the integration routes only."""
        if self.kind != "user" or self.role is None:
            return False
        return not roles or self.role is Role.ADMIN or self.role in roles

    def has_scope(self, scope: str) -> bool:
        return self.kind == "api_key" and scope in self.scopes


class Authenticator:
    """Turns credentials into principals: logins and bearer tokens through the users service
    (built here over ``users``; tests hand it a cheap ``hasher``), API keys through the
    integration's key service."""

    def __init__(
        self, settings: AuthSettings, users: UserStore, *, hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time, throttle: ThrottlePolicy | None = None,
        hash_slots: HashSlots | None = None,
    ) -> None:
        # The lockout audit is set by create_app, over the hall's alarms.
        self.service = UserService(settings, users, hasher=hasher, clock=clock,
                                   throttle=throttle, hash_slots=hash_slots)
        self.accounts = UserAccounts(self.service)
        # Set by create_app when the online-case integration is mounted; without it every
        # API key is refused.
        self.api_keys: ApiKeyService | None = None
        # Set by create_app when campus sign-on is installed: page sessions by cookie.
        self.sign_on: SignOnService | None = None
        self.cookies = SessionCookies()
        # sign_on.local_login = "admins": local passwords are the admins' break-glass only.
        self.local_login_admins_only = False

    @property
    def settings(self) -> AuthSettings:
        return self.service.settings

    @property
    def users(self) -> UserStore:
        return self.service.users

    async def authenticate(self, username: str, password: str, client: str = "unknown") -> User:
        """See ``UserService.authenticate``."""
        return await self.service.authenticate(username, password, client)

    def issue_token(self, user: User) -> IssuedToken:
        return self.service.issue_token(user)

    async def principal_for_token(self, token: str) -> Principal:
        """The user behind the token, with their stored role.

        Raises InvalidTokenError or AccountDisabledError.
        """
        user = await self.service.user_for_token(token)
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
    if token is not None:
        return await authenticator.principal_for_token(token)
    session_id = authenticator.cookies.session_id(request)
    if session_id is None or authenticator.sign_on is None:
        raise InvalidTokenError("not authenticated: log in at " + TOKEN_URL)
    session = await authenticator.sign_on.session(session_id)
    if request.method not in SAFE_METHODS and not authenticator.sign_on.csrf_ok(
            session_id, request.headers.get(CSRF_HEADER)):
        # The cookie comes with any request the browser makes; the token only from our page.
        raise ApiRefusal(status.HTTP_403_FORBIDDEN,
                         f"the {CSRF_HEADER} header is missing or wrong", ErrorCode.AUTH_CSRF_FAILED)
    return Principal(name=session.username, role=session.role, signed_on=True,
                     person_kind=None if session.person_kind is None
                     else session.person_kind.value, person_id=session.person_id)


def require_role(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets in callers with one of ``roles`` (admin always; none = any user)."""

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if not principal.has_any_role(roles):
            needed = ", ".join(sorted({r.value for r in roles} | {Role.ADMIN.value}))
            you = (principal.role.value if principal.role is not None
                   else "an API key" if principal.kind == "api_key"
                   else f"signed on as {principal.person_kind or 'someone'} without a staff role")
            raise ApiRefusal(status.HTTP_403_FORBIDDEN,
                             f"this needs one of the roles {needed}; you are {you}",
                             ErrorCode.AUTH_ROLE_NEEDED, {"roles": needed, "role": you})
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
        raise ApiRefusal(status.HTTP_403_FORBIDDEN,
                         f"this needs an API key with the scope {scope}"
                         + (" or a staff login" if roles else " or an admin login"),
                         ErrorCode.AUTH_SCOPE_NEEDED, {"scope": scope})

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
    signed_on: bool = Field(default=False, description="a campus sign-on page session")
    person_kind: str | None = None
    person_id: str | None = None


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


@router.post("/auth/token", response_model=TokenOut, responses={
    401: {"description": "wrong username or password"},
    403: {"description": "the account is disabled, or local passwords are for admins only "
                         "(sign_on.local_login)"},
    429: {"description": "too many failed logins for this user or from this address; "
                         "Retry-After says when to try again"},
    503: {"description": "too many logins at once; Retry-After says when to try again"},
})
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    authenticator: Annotated[Authenticator, Depends(get_authenticator)],
) -> TokenOut:
    """Log in with username and password (OAuth2 password form); returns a bearer token.

    Failed logins are counted per username and per client address: too many lock both out
    for a while that grows with each lockout (429 with Retry-After, whatever the password).
    """
    # The TCP peer: behind a reverse proxy, the proxy's address unless uvicorn is told to
    # trust its forwarding headers (``http.forwarded_allow_ips``, docs/deployment.md).
    client = request.client.host if request.client is not None else "unknown"
    user = await authenticator.authenticate(form.username, form.password, client)
    if authenticator.local_login_admins_only and user.role is not Role.ADMIN:
        # Checked after the password, so the refusal tells nothing to someone guessing.
        raise ApiRefusal(status.HTTP_403_FORBIDDEN, "local passwords are for admins only here; "
                         "use campus sign-on (统一身份认证)", ErrorCode.AUTH_LOCAL_LOGIN_OFF)
    issued = authenticator.issue_token(user)
    return TokenOut(access_token=issued.access_token, role=issued.role,
                    expires_in=issued.expires_in)


@router.get("/auth/me", response_model=MeOut)
async def me(principal: Annotated[Principal, Depends(current_principal)]) -> MeOut:
    """Who the token (or API key) belongs to, and their role (none for an API key)."""
    return MeOut(username=principal.name, role=principal.role, kind=principal.kind,
                 signed_on=principal.signed_on, person_kind=principal.person_kind,
                 person_id=principal.person_id)


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED,
             tags=["users"], responses={409: {"description": "the username is taken"}})
async def create_user(
    body: UserCreate, principal: AdminOnly,
    authenticator: Annotated[Authenticator, Depends(get_authenticator)],
) -> UserOut:
    """Create a user (admin only). The password is stored as an argon2 hash."""
    user = await authenticator.service.create_user(body.username, body.password, body.role,
                                                   disabled=body.disabled, by=principal.name)
    return UserOut(username=user.username, role=user.role, disabled=user.disabled)
