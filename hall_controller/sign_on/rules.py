"""Pure rules of campus sign-on: who a set of identity-provider claims makes someone in the
hall (role, student or staff, ``person_id``), where a sign-in may return to, PKCE.

Mapping: an ordered list of ``ClaimRule``s. A rule matches when the claim it names holds one
of its values (a list claim, such as ``groups``, matches when any element does). The hall
role is the first matching rule's that gives one, the person kind likewise; so put the
stronger roles first. Someone no rule gives a role or a person kind is refused: a campus
account alone is no way into the hall.

Pure: no I/O, no clock; times are handed in.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hall_controller.fleet.model import Role

# Sign-in attempts live this long between the redirect and the callback.
ATTEMPT_TTL_S = 600
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
PERSON_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
# Where a finished sign-in may send the browser: a page of ours, never another site
# (``//evil.example`` and ``/\\evil.example`` are other sites to a browser).
_RETURN_TO = re.compile(r"^/pages/[A-Za-z0-9_./-]*(\?[A-Za-z0-9_.=&%-]*)?$")
DEFAULT_RETURN_TO = "/pages/"


class PersonKind(StrEnum):
    STUDENT = "student"
    STAFF = "staff"


class Refusal(StrEnum):
    """Why a sign-in is refused; the stable ``code`` the API and the pages show."""

    STATE = "sign_on_state"              # unknown, expired, used, or not this browser's
    PROVIDER = "sign_on_provider_error"  # the IdP answered with an error or not at all
    TOKEN = "sign_on_token_invalid"  # noqa: S105 - a code: signature, iss, aud, times, nonce
    NO_ROLE = "sign_on_no_role"          # no mapping rule lets this person in
    CLAIMS = "sign_on_claims"            # a claim the hall needs is missing or malformed
    EMAIL_UNVERIFIED = "sign_on_email_unverified"
    DISABLED = "sign_on_disabled"        # a hall admin disabled this account


class SignOnRefused(Exception):
    """A sign-in (or a logout token) the hall will not accept; ``code`` says why."""

    def __init__(self, code: Refusal, message: str) -> None:
        super().__init__(message)
        self.code = code
        # The page the refused sign-in started from, once known: it shows the refusal.
        self.return_to: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimRule:
    """``claim`` holding one of ``values`` gives ``role`` and/or ``person_kind``."""

    claim: str
    values: tuple[str, ...]
    role: Role | None = None
    person_kind: PersonKind | None = None

    def matches(self, claims: Mapping[str, Any]) -> bool:
        held = claims.get(self.claim)
        items = held if isinstance(held, list) else [held]
        return any(isinstance(item, str | int) and str(item) in self.values for item in items)


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    """How claims become a hall identity (``hall.config_sign_on`` builds it)."""

    rules: tuple[ClaimRule, ...]
    username_claim: str = "preferred_username"
    person_id_claim: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signed on, as the hall sees them."""

    username: str
    issuer: str
    subject: str
    role: Role | None
    person_kind: PersonKind | None
    person_id: str | None


def map_identity(claims: Mapping[str, Any], mapping: ClaimMapping, issuer: str) -> Identity:
    """The hall identity the claims give, or SignOnRefused (NO_ROLE, CLAIMS,
    EMAIL_UNVERIFIED)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise SignOnRefused(Refusal.CLAIMS, "the identity provider sent no subject (sub)")
    for name in (mapping.username_claim, mapping.person_id_claim):
        # An address nobody proved is anyone's: it names no one.
        if name == "email" and claims.get("email_verified") is not True:
            raise SignOnRefused(Refusal.EMAIL_UNVERIFIED,
                                "the identity provider has not verified this e-mail address")
    username = claims.get(mapping.username_claim)
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise SignOnRefused(Refusal.CLAIMS, f"the claim {mapping.username_claim!r} is missing "
                                            "or not a valid username")
    person_id: str | None = None
    if mapping.person_id_claim is not None:
        value = claims.get(mapping.person_id_claim)
        if isinstance(value, int):
            value = str(value)
        if value is not None and (not isinstance(value, str) or not PERSON_ID.fullmatch(value)):
            raise SignOnRefused(Refusal.CLAIMS,
                                f"the claim {mapping.person_id_claim!r} is not a valid person id")
        person_id = value
    role = next((r.role for r in mapping.rules if r.role is not None and r.matches(claims)),
                None)
    kind = next((r.person_kind for r in mapping.rules
                 if r.person_kind is not None and r.matches(claims)), None)
    if role is None and kind is None:
        raise SignOnRefused(Refusal.NO_ROLE,
                            f"{username} signed on, but no mapping rule gives them a role here")
    return Identity(username=username, issuer=issuer, subject=subject, role=role,
                    person_kind=kind, person_id=person_id)


def safe_return_to(value: str | None) -> str:
    """``value`` when it is one of our pages, else the pages' start."""
    if value and _RETURN_TO.fullmatch(value) and ".." not in value:
        return value
    return DEFAULT_RETURN_TO


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def session_id_hash(session_id: str) -> str:
    """What the store keeps of a session's secret: a stolen table row opens no session."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def audience_holds(aud: Any, client_id: str) -> bool:
    if isinstance(aud, str):
        return aud == client_id
    return isinstance(aud, Sequence) and client_id in aud
