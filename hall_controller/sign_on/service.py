"""Campus sign-on's use cases: start a sign-in, finish it into a page session, check a session
on every request, log out (from the page, or from the identity provider's back channel), and
the admin's view of who signed on.

A page session is a random secret in a cookie; the store keeps its SHA-256 only. The session
holds the role mapped at login, so a role changed at the IdP applies at the next login, while
every request re-reads the account: an admin's ``disabled`` (here, or on the local account of
the same name) refuses the session at once. State-changing requests made with the cookie must
carry the session's CSRF token, an HMAC of the session secret, which the page reads from a
second, script-readable cookie and sends as a header (a signed double submit): another site
can make the browser send the cookie, never read it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hall_controller.kernel.errors import NotFound
from hall_controller.sign_on.cas import CasClient, parse_logout_request
from hall_controller.sign_on.model import Account, PageSession, Protocol
from hall_controller.sign_on.oidc import OidcClient
from hall_controller.sign_on.ports import SignOnStore
from hall_controller.sign_on.rules import (
    ClaimMapping,
    Identity,
    Refusal,
    SignOnRefused,
    map_identity,
    safe_return_to,
    session_id_hash,
)
from hall_controller.users.ports import UserStore
from hall_controller.users.service import AccountDisabledError, InvalidTokenError

logger = logging.getLogger(__name__)


class SessionInvalid(InvalidTokenError):
    """The session cookie is unknown, ended or expired (a 401: sign on again)."""


@dataclass(frozen=True, slots=True)
class SessionSettings:
    ttl_s: int = 8 * 3600
    # Keys the CSRF tokens; the composition root hands in the auth secret.
    secret: str = field(default="", repr=False)
    # Secure cookies (the API's session_cookies); off only for plain-HTTP demos on a LAN.
    cookie_secure: bool = True

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise ValueError("the session secret must be at least 32 characters")


@dataclass(frozen=True, slots=True)
class SignedOn:
    """A finished sign-in: the cookie's secret, the CSRF token and where the browser goes."""

    session_id: str
    csrf_token: str
    return_to: str
    session: PageSession


class SignOnService:
    """Sign-on over ``store``; ``oidc`` is the configured OpenID provider (None: not offered).
    ``local_users``: the hall's local accounts, whose ``disabled`` also refuses a sign-on of
    the same name."""

    def __init__(self, store: SignOnStore, mapping: ClaimMapping, settings: SessionSettings,
                 *, oidc: OidcClient | None = None, cas: CasClient | None = None,
                 local_users: UserStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.mapping = mapping
        self.settings = settings
        self.oidc = oidc
        self.cas = cas
        self.local_users = local_users
        self._clock = clock

    def _oidc(self) -> OidcClient:
        if self.oidc is None:
            raise NotFound("OpenID Connect sign-on is not configured")
        return self.oidc

    async def begin_oidc(self, return_to: str | None) -> tuple[str, str]:
        """``(state, url)``: the browser goes to ``url`` and keeps ``state`` in a cookie."""
        attempt, url = await self._oidc().begin(safe_return_to(return_to))
        await self.store.add_attempt(attempt)
        return attempt.state, url

    async def finish_oidc(self, state: str, code: str, browser_state: str | None,
                          iss: str | None = None) -> SignedOn:
        """The provider's callback: the attempt must be this browser's and unused; ``iss``,
        when the provider sends it (RFC 9207), must be its issuer."""
        client = self._oidc()
        # The browser's cookie binds the callback to the browser that started it: an
        # attacker's own callback link cannot sign a victim into the attacker's account.
        if not browser_state or not hmac.compare_digest(browser_state, state):
            raise SignOnRefused(Refusal.STATE, "this sign-in was not started in this browser")
        attempt = await self.store.take_attempt(state, self._clock())
        if attempt is None or attempt.protocol is not Protocol.OIDC:
            raise SignOnRefused(Refusal.STATE, "this sign-in is unknown, expired or used already")
        try:
            if iss is not None and iss != client.settings.issuer:
                # A mix-up: the code came from another provider the browser was sent to.
                raise SignOnRefused(Refusal.PROVIDER, f"the callback names another issuer {iss!r}")
            finished = await client.finish(attempt, code)
            identity = map_identity(finished.claims, self.mapping, client.settings.issuer)
            return await self.open_session(identity, Protocol.OIDC, finished.sid,
                                           finished.id_token, attempt.return_to)
        except SignOnRefused as refused:
            refused.return_to = attempt.return_to
            raise

    async def begin_cas(self, return_to: str | None) -> tuple[str, str]:
        """``(state, url)`` of a CAS sign-in, as ``begin_oidc``."""
        if self.cas is None:
            raise NotFound("CAS sign-on is not configured")
        attempt, url = self.cas.begin(safe_return_to(return_to))
        await self.store.add_attempt(attempt)
        return attempt.state, url

    async def finish_cas(self, state: str, ticket: str, browser_state: str | None) -> SignedOn:
        """The CAS server's redirect back with a service ticket."""
        if self.cas is None:
            raise NotFound("CAS sign-on is not configured")
        if not browser_state or not hmac.compare_digest(browser_state, state):
            raise SignOnRefused(Refusal.STATE, "this sign-in was not started in this browser")
        attempt = await self.store.take_attempt(state, self._clock())
        if attempt is None or attempt.protocol is not Protocol.CAS:
            raise SignOnRefused(Refusal.STATE, "this sign-in is unknown, expired or used already")
        try:
            user, attributes = await self.cas.validate(attempt, ticket)
            # CAS's user is the name; the attributes are the claims the mapping reads.
            claims: dict[str, object] = {**attributes, "sub": user}
            claims.setdefault(self.mapping.username_claim, user)
            identity = map_identity(claims, self.mapping, self.cas.issuer)
            return await self.open_session(identity, Protocol.CAS, ticket, None,
                                           attempt.return_to)
        except SignOnRefused as refused:
            refused.return_to = attempt.return_to
            raise

    async def cas_single_logout(self, logout_request: str) -> int:
        """The CAS server's single logout: end the session of the ticket it names."""
        ticket = parse_logout_request(logout_request)
        ended = await self.store.end_cas_sessions(ticket, self._clock())
        logger.info("CAS single logout ended %d session(s)", ended, extra={"ended": ended})
        return ended

    async def open_session(self, identity: Identity, protocol: Protocol, sid: str | None,
                           id_token: str | None, return_to: str) -> SignedOn:
        """A page session for ``identity``, whom the provider has just confirmed (the
        protocol's own checks are done). Raises SignOnRefused (DISABLED, CLAIMS)."""
        now = self._clock()
        await self._refuse_if_locally_disabled(identity.username)
        account = await self.store.record_login(identity, now)
        if account is None:
            raise SignOnRefused(Refusal.CLAIMS, f"the name {identity.username!r} belongs to "
                                                "another person at the identity provider")
        if account.disabled:
            raise SignOnRefused(Refusal.DISABLED, f"{identity.username} is disabled in the hall")
        session_id = secrets.token_urlsafe(32)
        session = PageSession(
            id_hash=session_id_hash(session_id), username=identity.username, protocol=protocol,
            role=identity.role, person_kind=identity.person_kind, person_id=identity.person_id,
            provider_sid=sid, id_token=id_token, created_at=now,
            expires_at=now + self.settings.ttl_s)
        await self.store.add_session(session)
        logger.info("%s signed on (%s) as %s", identity.username, protocol.value,
                    identity.role.value if identity.role else identity.person_kind,
                    extra={"username": identity.username, "protocol": protocol.value})
        return SignedOn(session_id=session_id, csrf_token=self.csrf_token(session_id),
                        return_to=return_to, session=session)

    async def _refuse_if_locally_disabled(self, username: str) -> None:
        if self.local_users is None:
            return
        local = await self.local_users.get_user(username)
        if local is not None and local.disabled:
            raise SignOnRefused(Refusal.DISABLED, f"{username} is disabled in the hall")

    async def session(self, session_id: str) -> PageSession:
        """The live session behind the cookie. Raises SessionInvalid or AccountDisabledError."""
        found = await self.store.get_session(session_id_hash(session_id))
        if found is None or not found.live(self._clock()):
            raise SessionInvalid("the sign-on session has ended; sign on again")
        account = await self.store.get_account(found.username)
        if account is None or account.disabled:
            raise AccountDisabledError
        await self._refuse_if_locally_disabled_now(found.username)
        return found

    async def _refuse_if_locally_disabled_now(self, username: str) -> None:
        try:
            await self._refuse_if_locally_disabled(username)
        except SignOnRefused:
            raise AccountDisabledError from None

    def csrf_token(self, session_id: str) -> str:
        mac = hmac.new(self.settings.secret.encode(), b"csrf:" + session_id.encode(),
                       hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def csrf_ok(self, session_id: str, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(self.csrf_token(session_id),
                                                             presented)

    async def logout(self, session_id: str) -> str:
        """End the session; where the browser goes next (the provider's logout, if any)."""
        ended = await self.store.end_session(session_id_hash(session_id), self._clock())
        if ended is None:
            return "/pages/"
        logger.info("%s logged out", ended.username, extra={"username": ended.username})
        if ended.protocol is Protocol.OIDC and self.oidc is not None:
            return await self.oidc.end_session_url(ended.id_token) or "/pages/"
        if ended.protocol is Protocol.CAS and self.cas is not None:
            return self.cas.logout_url()
        return "/pages/"

    async def backchannel_logout(self, logout_token: str) -> int:
        """The provider says a campus session ended: end its hall sessions; how many."""
        client = self._oidc()
        request = await client.logout_request(logout_token)
        ended = await self.store.end_provider_sessions(
            client.settings.issuer, sid=request.sid, subject=request.subject, now=self._clock())
        logger.info("back-channel logout (sid %s, sub %s) ended %d session(s)", request.sid,
                    request.subject, ended, extra={"ended": ended})
        return ended

    async def list_accounts(self) -> list[Account]:
        return await self.store.list_accounts()

    async def set_disabled(self, username: str, disabled: bool, *, by: str) -> Account:
        account = await self.store.set_disabled(username, disabled, self._clock())
        if account is None:
            raise NotFound(f"no signed-on account {username!r}")
        logger.info("signed-on account %s %s by %s", username,
                    "disabled" if disabled else "enabled", by,
                    extra={"username": username, "by": by})
        return account
