"""Ports of the sign-on room: where attempts, accounts and sessions are kept, and how the
identity provider is reached over HTTP."""

from __future__ import annotations

from typing import Any, Protocol

from hall_controller.sign_on.model import Account, Attempt, PageSession
from hall_controller.sign_on.rules import Identity


class ProviderUnreachable(Exception):
    """The identity provider did not answer, or answered something that is not JSON."""


class ProviderHttp(Protocol):
    """The identity provider's HTTP endpoints (JSON answers). Raises ProviderUnreachable;
    an error status with a JSON body is returned as that body with ``_status`` set."""

    async def get_json(self, url: str, *, bearer: str | None = None) -> dict[str, Any]: ...
    async def post_form(self, url: str, form: dict[str, str],
                        basic_auth: tuple[str, str] | None = None) -> dict[str, Any]: ...
    async def get_text(self, url: str) -> tuple[int, bytes]:
        """The status and body of a GET (CAS answers in XML)."""
    async def aclose(self) -> None: ...


class SignOnStore(Protocol):
    async def add_attempt(self, attempt: Attempt) -> None: ...
    async def take_attempt(self, state: str, now: float) -> Attempt | None:
        """Remove and return the attempt if it is there and not expired: a state works once."""
    async def record_login(self, identity: Identity, now: float) -> Account | None:
        """Store what the IdP said about ``identity`` (keeping a hall admin's ``disabled``);
        None when the username belongs to another subject."""
    async def get_account(self, username: str) -> Account | None: ...
    async def list_accounts(self) -> list[Account]: ...
    async def set_disabled(self, username: str, disabled: bool, now: float) -> Account | None:
        """Disabling also ends the account's sessions. None when there is no such account."""
    async def add_session(self, session: PageSession) -> None: ...
    async def get_session(self, id_hash: str) -> PageSession | None: ...
    async def end_session(self, id_hash: str, now: float) -> PageSession | None:
        """End it; the session as it was, or None if unknown or already ended."""
    async def end_provider_sessions(self, issuer: str, *, sid: str | None,
                                    subject: str | None, now: float) -> int:
        """End the live OIDC sessions of the IdP session ``sid`` (or, without one, of
        ``subject``); how many ended."""
    async def end_cas_sessions(self, ticket: str, now: float) -> int:
        """End the live CAS sessions opened with service ticket ``ticket``; how many."""
