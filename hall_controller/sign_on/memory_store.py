"""``SignOnStore`` in memory: the fake the unit tests run against. Pure: no I/O."""

from __future__ import annotations

from dataclasses import replace

from hall_controller.sign_on.model import Account, Attempt, PageSession, Protocol
from hall_controller.sign_on.rules import Identity


class MemorySignOnStore:
    def __init__(self) -> None:
        self.attempts: dict[str, Attempt] = {}
        self.accounts: dict[str, Account] = {}
        self.sessions: dict[str, PageSession] = {}

    async def add_attempt(self, attempt: Attempt) -> None:
        self.attempts[attempt.state] = attempt

    async def take_attempt(self, state: str, now: float) -> Attempt | None:
        attempt = self.attempts.pop(state, None)
        return attempt if attempt is not None and attempt.expires_at > now else None

    async def record_login(self, identity: Identity, now: float) -> Account | None:
        current = self.accounts.get(identity.username)
        if current is not None and (current.issuer, current.subject) != (identity.issuer,
                                                                         identity.subject):
            return None
        account = Account(username=identity.username, issuer=identity.issuer,
                          subject=identity.subject, role=identity.role,
                          person_kind=identity.person_kind, person_id=identity.person_id,
                          disabled=current is not None and current.disabled, last_login_at=now)
        self.accounts[identity.username] = account
        return account

    async def get_account(self, username: str) -> Account | None:
        return self.accounts.get(username)

    async def list_accounts(self) -> list[Account]:
        return [self.accounts[name] for name in sorted(self.accounts)]

    async def set_disabled(self, username: str, disabled: bool, now: float) -> Account | None:
        account = self.accounts.get(username)
        if account is None:
            return None
        self.accounts[username] = account = replace(account, disabled=disabled)
        if disabled:
            for key, session in list(self.sessions.items()):
                if session.username == username and session.ended_at is None:
                    self.sessions[key] = replace(session, ended_at=now)
        return account

    async def add_session(self, session: PageSession) -> None:
        self.sessions[session.id_hash] = session

    async def get_session(self, id_hash: str) -> PageSession | None:
        return self.sessions.get(id_hash)

    async def end_session(self, id_hash: str, now: float) -> PageSession | None:
        session = self.sessions.get(id_hash)
        if session is None or session.ended_at is not None:
            return None
        self.sessions[id_hash] = replace(session, ended_at=now)
        return session

    async def end_cas_sessions(self, ticket: str, now: float) -> int:
        ended = 0
        for key, session in list(self.sessions.items()):
            if (session.protocol is Protocol.CAS and session.provider_sid == ticket
                    and session.ended_at is None):
                self.sessions[key] = replace(session, ended_at=now)
                ended += 1
        return ended

    async def end_provider_sessions(self, issuer: str, *, sid: str | None,
                                    subject: str | None, now: float) -> int:
        ended = 0
        for key, session in list(self.sessions.items()):
            account = self.accounts.get(session.username)
            if (session.ended_at is not None or account is None or account.issuer != issuer
                    or session.protocol is not Protocol.OIDC):
                continue
            if (session.provider_sid == sid) if sid is not None else account.subject == subject:
                self.sessions[key] = replace(session, ended_at=now)
                ended += 1
        return ended
