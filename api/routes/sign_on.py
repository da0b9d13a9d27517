"""Campus sign-on (统一身份认证) over HTTP: the redirect to the identity provider, its callback,
logout from a page, the provider's back-channel logout, and the admin's list of who signed on.

The browser's part of a sign-in never sees a token: the callback turns the provider's code
into a page session and sets its cookies (``api.session_cookies``). A refused sign-in sends
the browser back to the page it started from (or the pages' start) with
``?sign_on_error=<code>`` (``rules.Refusal``), which the login box shows in the reader's
language; the reason goes to the log.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from api.auth import AdminOnly, Authenticator, get_authenticator
from api.errors import error_response
from api.session_cookies import CSRF_HEADER, STATE_COOKIE
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.sign_on.model import Account
from hall_controller.sign_on.rules import ATTEMPT_TTL_S, USERNAME, Refusal, SignOnRefused
from hall_controller.sign_on.service import SignOnService

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/sign-on", tags=["sign-on"])
_NO_STORE = {"Cache-Control": "no-store"}


def get_sign_on(
    authenticator: Annotated[Authenticator, Depends(get_authenticator)],
) -> SignOnService:
    if authenticator.sign_on is None:
        raise RuntimeError("the sign-on routes are mounted without a SignOnService")
    return authenticator.sign_on


SignOn = Annotated[SignOnService, Depends(get_sign_on)]
Auth = Annotated[Authenticator, Depends(get_authenticator)]
# Long enough for any provider's code or state, short enough to bound what is stored and logged.
Opaque = Annotated[str | None, Query(max_length=2048)]


class OptionsOut(BaseModel):
    oidc: bool
    cas: bool
    local_login: Literal["everyone", "admins"]


class LogoutOut(BaseModel):
    redirect: str


class AccountOut(BaseModel):
    username: str
    role: str | None
    person_kind: str | None
    person_id: str | None
    disabled: bool
    last_login_at: float

    @classmethod
    def build(cls, account: Account) -> AccountOut:
        return cls(username=account.username,
                   role=None if account.role is None else account.role.value,
                   person_kind=None if account.person_kind is None
                   else account.person_kind.value,
                   person_id=account.person_id, disabled=account.disabled,
                   last_login_at=account.last_login_at)


@router.get("/options", response_model=OptionsOut)
async def options(sign_on: SignOn, authenticator: Auth) -> OptionsOut:
    """What the login box offers (no login needed)."""
    return OptionsOut(oidc=sign_on.oidc is not None, cas=sign_on.cas is not None,
                      local_login="admins" if authenticator.local_login_admins_only
                      else "everyone")


def _refused(code: Refusal, page: str | None = None) -> RedirectResponse:
    """Back to the page the sign-in started from (when known), which shows why."""
    page = page or "/pages/"
    joiner = "&" if "?" in page else "?"
    return RedirectResponse(f"{page}{joiner}sign_on_error={quote(code.value)}",
                            status_code=303, headers=_NO_STORE)


@router.get("/oidc/login", response_class=RedirectResponse, status_code=303)
async def oidc_login(sign_on: SignOn, authenticator: Auth,
                     return_to: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    """Send the browser to the campus identity provider; it comes back to the callback."""
    try:
        state, url = await sign_on.begin_oidc(return_to)
    except SignOnRefused as exc:
        logger.warning("sign-on not started: %s", exc, extra={"code": exc.code.value})
        return _refused(exc.code)
    response = RedirectResponse(url, status_code=303, headers=_NO_STORE)
    authenticator.cookies.set_state(response, state, ATTEMPT_TTL_S)
    return response


@router.get("/oidc/callback", response_class=RedirectResponse, status_code=303)
async def oidc_callback(request: Request, sign_on: SignOn, authenticator: Auth, *,
                        state: Opaque = None, code: Opaque = None, iss: Opaque = None,
                        error: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """Where the identity provider sends the browser back with a code (or an error)."""
    browser_state = request.cookies.get(STATE_COOKIE)
    try:
        if error is not None or not code or not state:
            raise SignOnRefused(Refusal.PROVIDER,
                                f"the provider answered {error or 'without a code'}")
        signed_on = await sign_on.finish_oidc(state, code, browser_state, iss)
    except SignOnRefused as exc:
        logger.warning("sign-on refused (%s): %s", exc.code.value, exc,
                       extra={"code": exc.code.value})
        # The state cookie stays: a stray callback (a link someone was sent) must not spoil
        # a sign-in this browser has under way; a used state is worthless anyway.
        return _refused(exc.code, exc.return_to)
    response = RedirectResponse(signed_on.return_to, status_code=303, headers=_NO_STORE)
    authenticator.cookies.clear_state(response)
    authenticator.cookies.set(response, signed_on.session_id, signed_on.csrf_token)
    return response


@router.get("/cas/login", response_class=RedirectResponse, status_code=303)
async def cas_login(sign_on: SignOn, authenticator: Auth,
                    return_to: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    """Send the browser to the CAS server's ``/login``; it comes back to the callback."""
    state, url = await sign_on.begin_cas(return_to)
    response = RedirectResponse(url, status_code=303, headers=_NO_STORE)
    authenticator.cookies.set_state(response, state, ATTEMPT_TTL_S)
    return response


@router.get("/cas/callback", response_class=RedirectResponse, status_code=303)
async def cas_callback(request: Request, sign_on: SignOn, authenticator: Auth, *,
                       state: Opaque = None, ticket: Opaque = None) -> Response:
    """Where the CAS server sends the browser back with a service ticket."""
    try:
        if not ticket or not state:
            raise SignOnRefused(Refusal.PROVIDER, "the CAS server answered without a ticket")
        signed_on = await sign_on.finish_cas(state, ticket, request.cookies.get(STATE_COOKIE))
    except SignOnRefused as exc:
        logger.warning("CAS sign-on refused (%s): %s", exc.code.value, exc,
                       extra={"code": exc.code.value})
        return _refused(exc.code, exc.return_to)
    response = RedirectResponse(signed_on.return_to, status_code=303, headers=_NO_STORE)
    authenticator.cookies.clear_state(response)
    authenticator.cookies.set(response, signed_on.session_id, signed_on.csrf_token)
    return response


@router.post("/cas/callback", responses={400: {"description": "not a logout request"}})
async def cas_single_logout(
    sign_on: SignOn, logout_request: Annotated[str, Form(alias="logoutRequest",
                                                         max_length=16384)],
) -> Response:
    """CAS single logout: the server POSTs a SAML ``LogoutRequest`` naming the service ticket
    the session was opened with; that session ends."""
    try:
        await sign_on.cas_single_logout(logout_request)
    except SignOnRefused as exc:
        return error_response(400, str(exc), ErrorCode.SIGN_ON_REFUSED, {"reason": exc.code.value},
                              headers=_NO_STORE)
    return Response(status_code=200, headers=_NO_STORE)


@router.post("/logout", response_model=LogoutOut)
async def logout(request: Request, sign_on: SignOn, authenticator: Auth) -> Response:
    """End this browser's page session; ``redirect`` is where the page goes next (the
    provider's logout, so the campus session ends too). Needs the ``X-CSRF-Token`` header:
    another site must not be able to log people out."""
    session_id = authenticator.cookies.session_id(request)
    redirect = "/pages/"
    if session_id is not None:
        if not sign_on.csrf_ok(session_id, request.headers.get(CSRF_HEADER)):
            return error_response(403, f"the {CSRF_HEADER} header is missing or wrong",
                                  ErrorCode.AUTH_CSRF_FAILED)
        redirect = await sign_on.logout(session_id)
    response = JSONResponse(LogoutOut(redirect=redirect).model_dump(), headers=_NO_STORE)
    authenticator.cookies.clear(response)
    return response


@router.post("/oidc/backchannel-logout", responses={400: {"description": "invalid logout token"}})
async def backchannel_logout(
    sign_on: SignOn, logout_token: Annotated[str, Form(max_length=8192)],
) -> Response:
    """The identity provider's back channel (OpenID Connect Back-Channel Logout 1.0): a
    signed logout token ends the hall sessions of that campus session (``sid``) or person
    (``sub``)."""
    try:
        await sign_on.backchannel_logout(logout_token)
    except SignOnRefused as exc:
        logger.warning("back-channel logout refused: %s", exc, extra={"code": exc.code.value})
        return JSONResponse({"error": "invalid_request", "error_description": str(exc)},
                            status_code=400, headers=_NO_STORE)
    return Response(status_code=200, headers=_NO_STORE)


@router.get("/accounts", response_model=list[AccountOut])
async def list_accounts(_: AdminOnly, sign_on: SignOn) -> list[AccountOut]:
    """Everyone who signed on, with the role their last login mapped to (admin only)."""
    return [AccountOut.build(a) for a in await sign_on.list_accounts()]


Username = Annotated[str, Path(pattern=USERNAME.pattern, description="the signed-on name")]


@router.post("/accounts/{username}/disable", response_model=AccountOut,
             responses={404: {"description": "nobody signed on with that name"}})
async def disable(principal: AdminOnly, sign_on: SignOn, username: Username) -> AccountOut:
    """Refuse this person at once: their sessions end and sign-on refuses them (admin)."""
    return AccountOut.build(await sign_on.set_disabled(username, True, by=principal.name))


@router.post("/accounts/{username}/enable", response_model=AccountOut,
             responses={404: {"description": "nobody signed on with that name"}})
async def enable(principal: AdminOnly, sign_on: SignOn, username: Username) -> AccountOut:
    """Let this person sign on again (admin)."""
    return AccountOut.build(await sign_on.set_disabled(username, False, by=principal.name))
