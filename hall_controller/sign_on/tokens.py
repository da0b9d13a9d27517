"""Checks of the identity provider's signed tokens: the ID token of a sign-in and the logout
token of a back-channel logout (OpenID Connect Core §3.1.3.7, Back-Channel Logout §2.6).

The signature is checked by pyjwt over a key from the provider's JWKS, with the algorithms
the config allows (never ``none`` nor a shared-secret HS* algorithm, which would let anyone
holding the client secret forge tokens); every time and audience check is written out here,
against the ``now`` handed in, so the rules read in one place and tests can set the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from hall_controller.sign_on.rules import Refusal, SignOnRefused, audience_holds

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Asymmetric algorithms only: the key is the provider's public key.
SAFE_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                             "ES256", "ES384", "ES512", "EdDSA"})


@dataclass(frozen=True, slots=True)
class TokenChecks:
    """What a token must say: who issued it, for whom, and how far its times may be off."""

    issuer: str
    client_id: str
    algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256")
    clock_skew_s: int = 60
    # An ID token issued longer ago than this is stale, even if it has not expired.
    max_age_s: int = 600

    def __post_init__(self) -> None:
        unsafe = set(self.algorithms) - SAFE_ALGORITHMS
        if unsafe or not self.algorithms:
            raise ValueError(f"signing algorithms not allowed: {sorted(unsafe)}")


class BadSignature(SignOnRefused):
    """The signature does not verify with the key of that ``kid`` (a forgery, or a key the
    provider replaced under the same id)."""


def token_header(token: str) -> dict[str, Any]:
    """The unverified header (to pick the key); SignOnRefused when it is not a JWS."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise SignOnRefused(Refusal.TOKEN, "the token is not a signed JWT") from None
    return header


def _claims(token: str, key: Any, checks: TokenChecks) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, key, algorithms=list(checks.algorithms), options={
            "verify_signature": True, "verify_exp": False, "verify_iat": False,
            "verify_nbf": False, "verify_aud": False, "verify_iss": False, "require": []})
    except jwt.InvalidAlgorithmError:
        raise SignOnRefused(Refusal.TOKEN, "the token's signing algorithm is not allowed") from None
    except jwt.InvalidSignatureError:
        raise BadSignature(Refusal.TOKEN, "the token's signature is wrong") from None
    except jwt.InvalidTokenError as exc:
        raise SignOnRefused(Refusal.TOKEN, f"the token is malformed ({exc})") from None
    return claims


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignOnRefused(Refusal.TOKEN, f"the token has no valid {name!r} claim")
    return float(value)


def _common(claims: dict[str, Any], checks: TokenChecks, now: float) -> None:
    if claims.get("iss") != checks.issuer:
        raise SignOnRefused(Refusal.TOKEN, "the token was issued by another provider (iss)")
    if not audience_holds(claims.get("aud"), checks.client_id):
        raise SignOnRefused(Refusal.TOKEN, "the token is for another client (aud)")
    aud = claims.get("aud")
    if isinstance(aud, Sequence) and not isinstance(aud, str) and len(aud) > 1 \
            and claims.get("azp") != checks.client_id:
        raise SignOnRefused(Refusal.TOKEN, "the token names several audiences but not us as azp")
    iat = _number(claims, "iat")
    if iat > now + checks.clock_skew_s:
        raise SignOnRefused(Refusal.TOKEN, "the token was issued in the future (iat)")
    if iat < now - checks.max_age_s - checks.clock_skew_s:
        raise SignOnRefused(Refusal.TOKEN, "the token was issued too long ago (iat)")


def verify_id_token(token: str, key: Any, checks: TokenChecks, *, nonce: str,
                    now: float) -> dict[str, Any]:
    """The ID token's claims once signature, ``iss``, ``aud``/``azp``, ``exp``, ``iat`` and
    ``nonce`` hold; SignOnRefused (TOKEN) otherwise."""
    claims = _claims(token, key, checks)
    _common(claims, checks, now)
    if _number(claims, "exp") <= now - checks.clock_skew_s:
        raise SignOnRefused(Refusal.TOKEN, "the token has expired (exp)")
    if claims.get("nonce") != nonce:
        raise SignOnRefused(Refusal.TOKEN, "the token's nonce is not this sign-in's")
    if not isinstance(claims.get("sub"), str):
        raise SignOnRefused(Refusal.TOKEN, "the token has no subject (sub)")
    return claims


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """Whose sessions a verified logout token ends: the IdP session ``sid``, else ``sub``'s."""

    sid: str | None
    subject: str | None


def verify_logout_token(token: str, key: Any, checks: TokenChecks, *,
                        now: float) -> LogoutRequest:
    """A logout token's request once it is proved (Back-Channel Logout §2.6): signature,
    ``iss``, ``aud``, ``iat``, ``exp`` if present, the logout event, ``sub`` or ``sid``, and
    no ``nonce`` (so an ID token cannot pass for one)."""
    claims = _claims(token, key, checks)
    _common(claims, checks, now)
    if "exp" in claims and _number(claims, "exp") <= now - checks.clock_skew_s:
        raise SignOnRefused(Refusal.TOKEN, "the logout token has expired (exp)")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise SignOnRefused(Refusal.TOKEN, "the token carries no back-channel logout event")
    if "nonce" in claims:
        raise SignOnRefused(Refusal.TOKEN, "a logout token must not carry a nonce")
    sid, sub = claims.get("sid"), claims.get("sub")
    sid = sid if isinstance(sid, str) and sid else None
    sub = sub if isinstance(sub, str) and sub else None
    if sid is None and sub is None:
        raise SignOnRefused(Refusal.TOKEN, "the logout token names neither sid nor sub")
    return LogoutRequest(sid=sid, subject=sub)
