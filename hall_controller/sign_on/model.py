"""Records of campus sign-on: a sign-in in flight, an account, a page session. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hall_controller.fleet.model import Role
from hall_controller.sign_on.rules import PersonKind


class Protocol(StrEnum):
    OIDC = "oidc"
    CAS = "cas"


@dataclass(frozen=True, slots=True)
class Attempt:
    """A redirect to the identity provider, waiting for its callback (``state`` is its key)."""

    state: str
    protocol: Protocol
    nonce: str
    code_verifier: str
    return_to: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Account:
    """Someone who signed on, as the identity provider described them at their last login."""

    username: str
    issuer: str
    subject: str
    role: Role | None
    person_kind: PersonKind | None
    person_id: str | None
    disabled: bool
    last_login_at: float


@dataclass(frozen=True, slots=True)
class PageSession:
    """A signed-on browser's session; the cookie holds the secret whose hash is ``id_hash``.
    The role is the one mapped at login: a change at the IdP applies at the next login."""

    id_hash: str
    username: str
    protocol: Protocol
    role: Role | None
    person_kind: PersonKind | None
    person_id: str | None
    provider_sid: str | None
    id_token: str | None
    created_at: float
    expires_at: float
    ended_at: float | None = None

    def live(self, now: float) -> bool:
        return self.ended_at is None and now < self.expires_at
