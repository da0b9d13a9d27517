"""``SignOnStore`` over PostgreSQL (migration 0020, queries in ``sql/sign_on.sql``), over an
open pool it does not own. Connection trouble becomes ``StoreUnavailable``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from psycopg_pool import AsyncConnectionPool

from hall_controller.fleet.model import Role
from hall_controller.kernel.postgres.connections import execute, fetch_all, fetch_one, transaction
from hall_controller.sign_on.model import Account, Attempt, PageSession, Protocol
from hall_controller.sign_on.queries import QUERIES
from hall_controller.sign_on.rules import Identity, PersonKind

# Ended and expired sessions are kept this long (who was signed on when), then deleted.
SESSION_HISTORY_S = 30 * 86400


def _account(row: dict[str, Any]) -> Account:
    return Account(username=row["username"], issuer=row["issuer"], subject=row["subject"],
                   role=None if row["role"] is None else Role(row["role"]),
                   person_kind=None if row["person_kind"] is None
                   else PersonKind(row["person_kind"]),
                   person_id=row["person_id"], disabled=row["disabled"],
                   last_login_at=row["last_login_at"])


def _session(row: dict[str, Any]) -> PageSession:
    return PageSession(id_hash=row["id_hash"], username=row["username"],
                       protocol=Protocol(row["protocol"]),
                       role=None if row["role"] is None else Role(row["role"]),
                       person_kind=None if row["person_kind"] is None
                       else PersonKind(row["person_kind"]),
                       person_id=row["person_id"], provider_sid=row["provider_sid"],
                       id_token=row["id_token"], created_at=row["created_at"],
                       expires_at=row["expires_at"], ended_at=row["ended_at"])


class PostgresSignOnStore:
    """Sign-in attempts, signed-on accounts and page sessions in the controller's database."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def add_attempt(self, attempt: Attempt) -> None:
        await execute(self._pool, "add sign-on attempt", QUERIES["add_attempt"],
                      {**asdict(attempt), "protocol": attempt.protocol.value})

    async def take_attempt(self, state: str, now: float) -> Attempt | None:
        row = await fetch_one(self._pool, "take sign-on attempt", QUERIES["take_attempt"],
                              {"state": state})
        await execute(self._pool, "forget sign-on attempts", QUERIES["forget_expired_attempts"],
                      {"now": now})
        if row is None or row["expires_at"] <= now:
            return None
        return Attempt(state=row["state"], protocol=Protocol(row["protocol"]),
                       nonce=row["nonce"], code_verifier=row["code_verifier"],
                       return_to=row["return_to"], expires_at=row["expires_at"])

    async def record_login(self, identity: Identity, now: float) -> Account | None:
        row = await fetch_one(self._pool, "record sign-on", QUERIES["record_login"], {
            "username": identity.username, "issuer": identity.issuer,
            "subject": identity.subject,
            "role": None if identity.role is None else identity.role.value,
            "person_kind": None if identity.person_kind is None else identity.person_kind.value,
            "person_id": identity.person_id, "now": now})
        return None if row is None else _account(row)

    async def get_account(self, username: str) -> Account | None:
        row = await fetch_one(self._pool, "get signed-on account", QUERIES["get_account"],
                              {"username": username})
        return None if row is None else _account(row)

    async def list_accounts(self) -> list[Account]:
        rows = await fetch_all(self._pool, "list signed-on accounts", QUERIES["list_accounts"])
        return [_account(row) for row in rows]

    async def set_disabled(self, username: str, disabled: bool, now: float) -> Account | None:
        async with transaction(self._pool, "disable signed-on account") as cur:
            await cur.execute(QUERIES["set_disabled"],
                              {"username": username, "disabled": disabled})
            row = await cur.fetchone()
            if row is not None and disabled:
                await cur.execute(QUERIES["end_user_sessions"], {"username": username, "now": now})
        return None if row is None else _account(row)

    async def add_session(self, session: PageSession) -> None:
        params = asdict(session)
        params.update(protocol=session.protocol.value,
                      role=None if session.role is None else session.role.value,
                      person_kind=None if session.person_kind is None
                      else session.person_kind.value)
        await execute(self._pool, "add sign-on session", QUERIES["add_session"], params)
        await execute(self._pool, "forget old sessions", QUERIES["forget_old_sessions"],
                      {"before": session.created_at - SESSION_HISTORY_S})

    async def get_session(self, id_hash: str) -> PageSession | None:
        row = await fetch_one(self._pool, "get sign-on session", QUERIES["get_session"],
                              {"id_hash": id_hash})
        return None if row is None else _session(row)

    async def end_session(self, id_hash: str, now: float) -> PageSession | None:
        row = await fetch_one(self._pool, "end sign-on session", QUERIES["end_session"],
                              {"id_hash": id_hash, "now": now})
        return None if row is None else _session(row)

    async def end_cas_sessions(self, ticket: str, now: float) -> int:
        return await execute(self._pool, "end CAS sessions", QUERIES["end_cas_sessions"],
                             {"ticket": ticket, "now": now})

    async def end_provider_sessions(self, issuer: str, *, sid: str | None,
                                    subject: str | None, now: float) -> int:
        return await execute(self._pool, "end provider sessions",
                             QUERIES["end_provider_sessions"],
                             {"issuer": issuer, "sid": sid, "subject": subject, "now": now})
