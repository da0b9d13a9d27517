"""The online-case integration's stores (``cases.ports.IntegrationStore``) over PostgreSQL.

A separate class from ``PostgresStore`` (same DSN, same migrations: 0005), so the device
plane's store stays as it is. Either give it an open pool (e.g. the one the composition root
opened for ``PostgresStore``) or let it open its own small pool on the same DSN::

    async with PostgresCaseStore.connect(dsn) as cases:
        ...

Errors: connection trouble becomes StoreUnavailable (``kernel.postgres.connections``), a lost
optimistic-concurrency race or a duplicate key becomes Conflict, unknown ids NotFound.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hall_controller.cases.queries import QUERIES
from hall_controller.cases.rules import (
    ApiKey,
    Applicant,
    Appointment,
    Case,
    CaseEvent,
    CaseEventType,
    CaseStatus,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DueDelivery,
    Material,
    NewCaseEvent,
    OneTripCounts,
    Scope,
    Visit,
    Webhook,
    materials_data,
)
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.kernel.postgres.connections import (
    Row,
    execute,
    fetch_all,
    fetch_one,
    open_pool,
    transaction,
)


class PostgresCaseStore:
    """Cases, case events, API keys, webhooks and deliveries in the controller's database."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        """Over an open pool it does not own (the one ``PostgresStore.connect`` opened)."""
        self._pool = pool

    @classmethod
    @asynccontextmanager
    async def connect(cls, dsn: str, *, min_size: int = 1, max_size: int = 4,
                      timeout_s: float = 10.0) -> AsyncIterator[PostgresCaseStore]:
        """Open a pool on ``dsn`` (closed when the context exits) and yield a store over it.

        Raises StoreUnavailable if the database cannot be reached within ``timeout_s``.
        """
        async with open_pool(dsn, name="hall-case-store",
                             application_name="hall-controller-cases", min_size=min_size,
                             max_size=max_size, timeout_s=timeout_s) as pool:
            yield cls(pool)

    # -- cases --------------------------------------------------------------------------------

    async def get_case(self, case_id: str) -> Case | None:
        row = await fetch_one(self._pool, "get case", QUERIES["get_case"], {"case_id": case_id})
        return None if row is None else _case(row)

    async def list_cases(
        self, *, person_id: str | None = None, campus_card: str | None = None,
        status: CaseStatus | None = None, service_code: str | None = None, limit: int = 100,
    ) -> list[Case]:
        rows = await fetch_all(self._pool, "list cases", QUERIES["list_cases"], {
            "person_id": person_id, "campus_card": campus_card,
            "status": None if status is None else status.value, "service_code": service_code,
            "limit": limit})
        return [_case(r) for r in rows]

    async def save_case(self, case: Case, expected_version: int,
                        events: Sequence[NewCaseEvent]) -> list[CaseEvent]:
        params = _case_params(case) | {"expected_version": expected_version}
        async with transaction(self._pool, "save case") as cur:
            if events:
                await cur.execute(QUERIES["lock_case_events"])
            query = QUERIES["insert_case"] if expected_version == 0 else QUERIES["update_case"]
            await cur.execute(query, params)
            written = await cur.fetchone()
            if written is None:
                await cur.execute(QUERIES["case_version"], {"case_id": case.case_id})
                current = await cur.fetchone()
                raise Conflict(
                    f"case {case.case_id!r} is at version "
                    f"{0 if current is None else current['version']}, not {expected_version}",
                               code=ErrorCode.CASE_VERSION_CONFLICT, case=case.case_id)
            appended: list[CaseEvent] = []
            if events:
                await cur.execute(QUERIES["append_case_events"], {
                    "case_ids": [e.case_id for e in events],
                    "types": [e.type.value for e in events],
                    "at_ms": [e.at_ms for e in events],
                    "data": [json.dumps(e.data) for e in events],
                })
                appended = [_event(r) for r in await cur.fetchall()]
                appended.sort(key=lambda e: e.id)
                await cur.execute(QUERIES["queue_deliveries"],
                                  {"event_ids": [e.id for e in appended]})
        case.version = int(written["version"])
        return appended

    async def events_after(self, cursor: int, limit: int,
                           case_id: str | None = None) -> list[CaseEvent]:
        rows = await fetch_all(self._pool, "case events", QUERIES["events_after"],
                                 {"cursor": cursor, "limit": limit, "case_id": case_id})
        return [_event(r) for r in rows]

    async def one_trip_counts(self, from_ms: int, to_ms: int) -> OneTripCounts:
        row = await fetch_one(self._pool, "one-trip counts", QUERIES["one_trip_counts"],
                                    {"from_ms": from_ms, "to_ms": to_ms})
        assert row is not None  # an aggregate always returns a row
        return OneTripCounts(int(row["resolved_with_visit"]), int(row["one_visit"]))

    # -- API keys -----------------------------------------------------------------------------

    async def insert_api_key(self, key: ApiKey) -> None:
        row = await fetch_one(self._pool, "insert API key", QUERIES["insert_api_key"], {
            "key_id": key.key_id, "name": key.name, "secret_hash": key.secret_hash,
            "scopes": sorted(s.value for s in key.scopes), "created_ms": key.created_ms,
            "created_by": key.created_by, "revoked_ms": key.revoked_ms})
        if row is None:
            raise Conflict(f"API key {key.key_id!r} exists",
                           code=ErrorCode.API_KEY_EXISTS, key=key.key_id)

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        row = await fetch_one(self._pool, "get API key", QUERIES["get_api_key"], {"key_id": key_id})
        return None if row is None else _api_key(row)

    async def list_api_keys(self) -> list[ApiKey]:
        return [_api_key(r) for r in await fetch_all(self._pool, "list API keys",
                                                       QUERIES["list_api_keys"], {})]

    async def revoke_api_key(self, key_id: str, at_ms: int) -> ApiKey:
        row = await fetch_one(self._pool, "revoke API key", QUERIES["revoke_api_key"],
                                    {"key_id": key_id, "at_ms": at_ms})
        if row is None:
            raise NotFound(f"unknown API key {key_id!r}",
                           code=ErrorCode.API_KEY_UNKNOWN, key=key_id)
        return _api_key(row)

    # -- webhooks -----------------------------------------------------------------------------

    async def insert_webhook(self, url: str, secret: str, description: str, at_ms: int,
                             created_by: str) -> Webhook:
        row = await fetch_one(self._pool, "insert webhook", QUERIES["insert_webhook"], {
            "url": url, "secret": secret, "description": description, "at_ms": at_ms,
            "created_by": created_by})
        assert row is not None  # INSERT ... RETURNING
        return _webhook(row)

    async def get_webhook(self, webhook_id: int) -> Webhook | None:
        row = await fetch_one(self._pool, "get webhook", QUERIES["get_webhook"], {"id": webhook_id})
        return None if row is None else _webhook(row)

    async def list_webhooks(self) -> list[Webhook]:
        return [_webhook(r) for r in await fetch_all(self._pool, "list webhooks",
                                                       QUERIES["list_webhooks"], {})]

    async def set_webhook_active(self, webhook_id: int, active: bool) -> Webhook:
        row = await fetch_one(self._pool, "set webhook active", QUERIES["set_webhook_active"],
                                    {"id": webhook_id, "active": active})
        if row is None:
            raise NotFound(f"unknown webhook {webhook_id}",
                           code=ErrorCode.WEBHOOK_UNKNOWN, webhook=webhook_id)
        return _webhook(row)

    async def claim_due_deliveries(self, now_ms: int, lease_ms: int,
                                   limit: int) -> list[DueDelivery]:
        rows = await fetch_all(self._pool, "claim deliveries", QUERIES["claim_due_deliveries"],
                                 {"now_ms": now_ms, "lease_ms": lease_ms, "limit": limit})
        return [
            DueDelivery(
                delivery=_delivery(r),
                webhook=Webhook(int(r["webhook_id"]), r["w_url"], r["w_secret"],
                                r["w_description"], r["w_active"], r["w_created_ms"],
                                r["w_created_by"]),
                event=CaseEvent(int(r["event_id"]), r["e_case_id"], CaseEventType(r["e_type"]),
                                r["e_at_ms"], r["e_data"]),
            )
            for r in rows
        ]

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        await execute(self._pool, "record attempt", QUERIES["record_attempt"], {
            "delivery_id": attempt.delivery_id, "at_ms": attempt.at_ms,
            "duration_ms": attempt.duration_ms, "status_code": attempt.status_code,
            "error": attempt.error, "result": attempt.result.value,
            "next_attempt_ms": attempt.next_attempt_ms})

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        row = await fetch_one(self._pool, "get delivery", QUERIES["get_delivery"],
                              {"id": delivery_id})
        return None if row is None else _delivery(row)

    async def list_deliveries(
        self, *, webhook_id: int | None = None, event_id: int | None = None,
        status: DeliveryStatus | None = None, limit: int = 100,
    ) -> list[Delivery]:
        rows = await fetch_all(self._pool, "list deliveries", QUERIES["list_deliveries"], {
            "webhook_id": webhook_id, "event_id": event_id,
            "status": None if status is None else status.value, "limit": limit})
        return [_delivery(r) for r in rows]

    async def list_attempts(self, delivery_id: int) -> list[DeliveryAttempt]:
        rows = await fetch_all(self._pool, "list attempts", QUERIES["list_attempts"],
                                 {"delivery_id": delivery_id})
        return [DeliveryAttempt(delivery_id=int(r["delivery_id"]), attempt=r["attempt"],
                                at_ms=r["at_ms"], duration_ms=r["duration_ms"],
                                status_code=r["status_code"], error=r["error"],
                                result=DeliveryStatus(r["result"]),
                                next_attempt_ms=r["next_attempt_ms"])
                for r in rows]

    async def retry_delivery(self, delivery_id: int, now_ms: int) -> Delivery:
        await execute(self._pool, "retry delivery", QUERIES["retry_delivery"],
                      {"id": delivery_id, "now_ms": now_ms})
        delivery = await self.get_delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"unknown delivery {delivery_id}",
                           code=ErrorCode.DELIVERY_UNKNOWN, delivery=delivery_id)
        return delivery


# -- rows ↔ records ------------------------------------------------------------------------------


def _case_params(case: Case) -> dict[str, Any]:
    appointment = case.appointment
    return {
        "case_id": case.case_id, "service_code": case.service_code,
        "status": case.status.value, "status_reason": case.status_reason,
        "person_id": case.applicant.person_id, "campus_card": case.applicant.campus_card,
        "applicant_name": case.applicant.name,
        "materials": Jsonb(materials_data(case.materials)),
        "appointment": None if appointment is None else Jsonb({
            "at_ms": appointment.at_ms, "window_start_ms": appointment.window_start_ms,
            "window_end_ms": appointment.window_end_ms}),
        "visits": Jsonb([{"ticket_id": v.ticket_id, "at_ms": v.at_ms, "outcome": v.outcome}
                         for v in case.visits]),
        "visit_count": case.visit_count,
        "linked_tickets": Jsonb(list(case.linked_tickets)),
        "created_ms": case.created_ms, "updated_ms": case.updated_ms,
        "resolved_ms": case.resolved_ms,
    }


def _case(row: Row) -> Case:
    appointment = row["appointment"]
    return Case(
        case_id=row["case_id"], service_code=row["service_code"],
        status=CaseStatus(row["status"]),
        applicant=Applicant(row["person_id"], row["campus_card"], row["applicant_name"]),
        created_ms=row["created_ms"], updated_ms=row["updated_ms"],
        materials=[Material(m["code"], m["name"], bool(m["received"]))
                   for m in row["materials"]],
        appointment=None if appointment is None else Appointment(
            appointment["at_ms"], appointment.get("window_start_ms"),
            appointment.get("window_end_ms")),
        status_reason=row["status_reason"],
        visits=[Visit(v["ticket_id"], v["at_ms"], v["outcome"]) for v in row["visits"]],
        linked_tickets=list(row["linked_tickets"]),
        resolved_ms=row["resolved_ms"], version=int(row["version"]),
    )


def _event(row: Row) -> CaseEvent:
    return CaseEvent(int(row["id"]), row["case_id"], CaseEventType(row["type"]), row["at_ms"],
                     row["data"])


def _api_key(row: Row) -> ApiKey:
    return ApiKey(key_id=row["key_id"], name=row["name"], secret_hash=row["secret_hash"],
                  scopes=frozenset(Scope(s) for s in row["scopes"]),
                  created_ms=row["created_ms"], created_by=row["created_by"],
                  revoked_ms=row["revoked_ms"])


def _webhook(row: Row) -> Webhook:
    return Webhook(int(row["id"]), row["url"], row["secret"], row["description"], row["active"],
                   row["created_ms"], row["created_by"])


def _delivery(row: Row) -> Delivery:
    return Delivery(id=int(row["id"]), webhook_id=int(row["webhook_id"]),
                    event_id=int(row["event_id"]), status=DeliveryStatus(row["status"]),
                    attempts=row["attempts"], created_ms=row["created_ms"],
                    next_attempt_ms=row["next_attempt_ms"],
                    last_status_code=row["last_status_code"], last_error=row["last_error"],
                    delivered_ms=row["delivered_ms"])
