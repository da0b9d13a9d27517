"""The OpenID Connect relying party: discovery, the provider's signing keys, the authorization
code flow with PKCE, and the checks of what comes back.

Discovery is read from ``<issuer>/.well-known/openid-configuration`` and must name the
configured issuer exactly. The signing keys (JWKS) are cached; a token signed with a key id
the cache does not hold makes one refetch (a rotated key), but no more than one per
``jwks_refetch_interval_s``: a stream of tokens with made-up key ids cannot turn the hall
into a load generator against the IdP.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

import jwt

from hall_controller.sign_on.model import Attempt, Protocol
from hall_controller.sign_on.ports import ProviderHttp, ProviderUnreachable
from hall_controller.sign_on.rules import (
    ATTEMPT_TTL_S,
    Refusal,
    SignOnRefused,
    pkce_challenge,
)
from hall_controller.sign_on.tokens import (
    BadSignature,
    LogoutRequest,
    TokenChecks,
    token_header,
    verify_id_token,
    verify_logout_token,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """The relying party's registration at the provider and its checks."""

    checks: TokenChecks
    client_secret: str = field(repr=False)
    redirect_uri: str
    post_logout_redirect_uri: str
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    use_userinfo: bool = True
    discovery_ttl_s: float = 3600
    jwks_refetch_interval_s: float = 10

    @property
    def issuer(self) -> str:
        return self.checks.issuer


@dataclass(frozen=True, slots=True)
class Finished:
    """A sign-in the provider confirmed: the claims, its session id and the ID token."""

    claims: dict[str, Any]
    sid: str | None
    id_token: str


class ProviderKeys:
    """The provider's signing keys, refetched on an unknown key id at most once per
    ``min_interval_s``."""

    def __init__(self, http: ProviderHttp, clock: Callable[[], float],
                 min_interval_s: float) -> None:
        self._http = http
        self._clock = clock
        self._min_interval_s = min_interval_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self.fetches = 0

    async def key_for(self, jwks_uri: str, kid: str | None) -> Any:
        key = self._pick(kid)
        if key is None and await self.refresh(jwks_uri):
            key = self._pick(kid)
        if key is None:
            raise SignOnRefused(Refusal.TOKEN, "the token is signed with a key the identity "
                                               "provider does not publish")
        return key.key

    async def refresh(self, jwks_uri: str) -> bool:
        """Fetch the keys again unless that was done less than ``min_interval_s`` ago;
        whether it fetched."""
        if self._fetched_at is not None and \
                self._clock() - self._fetched_at < self._min_interval_s:
            return False
        await self._fetch(jwks_uri)
        return True

    def _pick(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            # Without a key id only an unambiguous set will do.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _fetch(self, jwks_uri: str) -> None:
        self._fetched_at = self._clock()
        self.fetches += 1
        body = await self._http.get_json(jwks_uri)
        keys: dict[str, jwt.PyJWK] = {}
        for entry in body.get("keys", []) if isinstance(body.get("keys"), list) else []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                continue  # a key type we cannot use (or a broken one) signs nothing for us
            keys[str(entry.get("kid", ""))] = key
        self._keys = keys
        logger.info("identity provider keys fetched: %s", ", ".join(sorted(keys)) or "none")


class OidcClient:
    """One configured OpenID provider, reached through ``http``."""

    def __init__(self, settings: OidcSettings, http: ProviderHttp, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._http = http
        self._clock = clock
        self._discovery: dict[str, Any] | None = None
        self._discovered_at = 0.0
        self.keys = ProviderKeys(http, clock, settings.jwks_refetch_interval_s)

    async def discovery(self) -> dict[str, Any]:
        now = self._clock()
        if self._discovery is None or now - self._discovered_at >= self.settings.discovery_ttl_s:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                body = await self._http.get_json(url)
            except ProviderUnreachable as exc:
                raise SignOnRefused(Refusal.PROVIDER,
                                    f"the identity provider is unreachable ({exc})") from None
            if body.get("issuer") != self.settings.issuer:
                raise SignOnRefused(Refusal.PROVIDER, "the provider's discovery names another "
                                                      f"issuer: {body.get('issuer')!r}")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(body.get(name), str):
                    raise SignOnRefused(Refusal.PROVIDER, f"the provider's discovery has no {name}")
            self._discovery, self._discovered_at = body, now
        return self._discovery

    async def begin(self, return_to: str) -> tuple[Attempt, str]:
        """A new attempt (to store) and the provider's authorization URL to send the browser to."""
        found = await self.discovery()
        attempt = Attempt(state=secrets.token_urlsafe(32), protocol=Protocol.OIDC,
                          nonce=secrets.token_urlsafe(32),
                          code_verifier=secrets.token_urlsafe(48), return_to=return_to,
                          expires_at=self._clock() + ATTEMPT_TTL_S)
        query = urlencode({
            "response_type": "code", "client_id": self.settings.checks.client_id,
            "redirect_uri": self.settings.redirect_uri, "scope": " ".join(self.settings.scopes),
            "state": attempt.state, "nonce": attempt.nonce,
            "code_challenge": pkce_challenge(attempt.code_verifier),
            "code_challenge_method": "S256"})
        return attempt, f"{found['authorization_endpoint']}?{query}"

    async def finish(self, attempt: Attempt, code: str) -> Finished:
        """Redeem ``code`` (with the attempt's PKCE verifier) and check the ID token."""
        found = await self.discovery()
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.settings.redirect_uri,
                "code_verifier": attempt.code_verifier}
        try:
            answer = await self._http.post_form(
                found["token_endpoint"], form,
                basic_auth=(self.settings.checks.client_id, self.settings.client_secret))
        except ProviderUnreachable as exc:
            raise SignOnRefused(Refusal.PROVIDER, f"the token endpoint failed ({exc})") from None
        if "_status" in answer or not isinstance(answer.get("id_token"), str):
            # invalid_grant: the code was used already (a replay), expired or is not ours.
            error = answer.get("error_description") or answer.get("error") or "no ID token"
            raise SignOnRefused(Refusal.PROVIDER, f"the provider refused the code: {error}")
        id_token = answer["id_token"]
        claims = await self._verified(id_token, found, lambda key: verify_id_token(
            id_token, key, self.settings.checks, nonce=attempt.nonce, now=self._clock()))
        if self.settings.use_userinfo and isinstance(answer.get("access_token"), str) \
                and isinstance(found.get("userinfo_endpoint"), str):
            claims = {**await self._userinfo(found["userinfo_endpoint"], answer["access_token"],
                                             claims["sub"]), **claims}
        sid = claims.get("sid")
        return Finished(claims=claims, sid=sid if isinstance(sid, str) else None,
                        id_token=id_token)

    async def logout_request(self, logout_token: str) -> LogoutRequest:
        """The sessions a back-channel logout token asks to end, once it is proved."""
        found = await self.discovery()
        return await self._verified(logout_token, found, lambda key: verify_logout_token(
            logout_token, key, self.settings.checks, now=self._clock()))

    async def end_session_url(self, id_token: str | None) -> str | None:
        """Where the browser logs out of the provider too (RP-initiated logout), if it can."""
        try:
            found = await self.discovery()
        except SignOnRefused:
            return None  # the hall session is over anyway
        endpoint = found.get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        query = {"client_id": self.settings.checks.client_id,
                 "post_logout_redirect_uri": self.settings.post_logout_redirect_uri}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(query)}"

    async def _verified(self, token: str, found: dict[str, Any],
                           check: Callable[[Any], T]) -> T:
        kid = token_header(token).get("kid")
        kid = kid if isinstance(kid, str) else None
        try:
            key = await self.keys.key_for(found["jwks_uri"], kid)
            try:
                return check(key)
            except BadSignature:
                # A provider may have replaced the key under the same id: look once more (at
                # most once per interval, like an unknown kid), then judge with what it says.
                if not await self.keys.refresh(found["jwks_uri"]):
                    raise
                return check(await self.keys.key_for(found["jwks_uri"], kid))
        except ProviderUnreachable as exc:
            raise SignOnRefused(Refusal.PROVIDER, f"the provider's keys are unreachable ({exc})") \
                from None

    async def _userinfo(self, endpoint: str, access_token: str, subject: str) -> dict[str, Any]:
        try:
            info = await self._http.get_json(endpoint, bearer=access_token)
        except ProviderUnreachable as exc:
            raise SignOnRefused(Refusal.PROVIDER, f"the userinfo endpoint failed ({exc})") from None
        if "_status" in info or info.get("sub") != subject:
            # OIDC Core §5.3.2: userinfo about another subject must not be used.
            raise SignOnRefused(Refusal.TOKEN, "the userinfo answer is not about this subject")
        return info
