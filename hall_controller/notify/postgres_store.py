"""``NotifyStore`` over PostgreSQL (migration 0017, queries in ``sql/notify.sql``).

Tracks and deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` and a lease, so several
controllers share the work without doing any of it twice; ``advance`` writes a track, its
deliveries and its history in one transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hall_controller.fleet.model import AlarmSeverity
from hall_controller.kernel.errors import NotFound
from hall_controller.kernel.postgres.connections import (
    Row,
    execute,
    fetch_all,
    fetch_one,
    transaction,
)
from hall_controller.kernel.postgres.queries import where_clause
from hall_controller.notify.model import (
    AlarmTrack,
    Channel,
    Delivery,
    DeliveryStatus,
    HistoryEntry,
    HistoryKind,
    MaintenanceWindow,
    OutgoingMessage,
    Override,
    PlannedMessage,
    Recipient,
    RecipientDraft,
    Role,
    Shift,
    TrackStatus,
)
from hall_controller.notify.queries import QUERIES


class PostgresNotifyStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    # -- directory
    async def list_recipients(self) -> list[Recipient]:
        return [_recipient(r) for r in await fetch_all(self._pool, "list recipients",
                                                       QUERIES["list_recipients"])]

    async def save_recipient(self, recipient_id: int | None, draft: RecipientDraft,
                             at_ms: int, by: str) -> Recipient:
        params: dict[str, Any] = {f.name: getattr(draft, f.name)
                                  for f in dataclasses.fields(RecipientDraft)}
        params.update(role=draft.role.value, min_severity=draft.min_severity.value,
                      channels=[c.value for c in draft.channels], sites=list(draft.sites),
                      at_ms=at_ms, by=by, id=recipient_id)
        query = "insert_recipient" if recipient_id is None else "update_recipient"
        row = await fetch_one(self._pool, "save recipient", QUERIES[query], params)
        if row is None:
            raise NotFound(f"unknown recipient {recipient_id}")
        return _recipient(row)

    async def list_shifts(self) -> list[Shift]:
        return [Shift(**r) for r in await fetch_all(self._pool, "list shifts",
                                                    QUERIES["list_shifts"])]

    async def add_shift(self, shift: Shift) -> Shift:
        row = await self._insert_for_recipient("insert_shift", dataclasses.asdict(shift))
        return Shift(**row)

    async def delete_shift(self, shift_id: int) -> None:
        if not await execute(self._pool, "delete shift", QUERIES["delete_shift"],
                             {"id": shift_id}):
            raise NotFound(f"unknown shift {shift_id}")

    async def list_overrides(self, from_day: str) -> list[Override]:
        rows = await fetch_all(self._pool, "list overrides", QUERIES["list_overrides"],
                               {"from_day": from_day})
        return [Override(**r) for r in rows]

    async def add_override(self, override: Override) -> Override:
        row = await self._insert_for_recipient("insert_override", dataclasses.asdict(override))
        return Override(**row)

    async def delete_override(self, override_id: int) -> None:
        if not await execute(self._pool, "delete override", QUERIES["delete_override"],
                             {"id": override_id}):
            raise NotFound(f"unknown override {override_id}")

    async def _insert_for_recipient(self, query: str, params: dict[str, Any]) -> Row:
        try:
            row = await fetch_one(self._pool, query, QUERIES[query], params)
        except psycopg.errors.ForeignKeyViolation:
            raise NotFound(f"unknown recipient {params['recipient_id']}") from None
        assert row is not None
        return row

    async def list_windows(self, ending_after_ms: int) -> list[MaintenanceWindow]:
        rows = await fetch_all(self._pool, "list windows", QUERIES["list_windows"],
                               {"after_ms": ending_after_ms})
        return [MaintenanceWindow(**r) for r in rows]

    async def add_window(self, window: MaintenanceWindow) -> MaintenanceWindow:
        row = await fetch_one(self._pool, "add window", QUERIES["insert_window"],
                              dataclasses.asdict(window))
        assert row is not None
        return MaintenanceWindow(**row)

    async def end_window(self, window_id: int, at_ms: int) -> MaintenanceWindow:
        await fetch_all(self._pool, "end window", QUERIES["end_window"],
                        {"id": window_id, "at_ms": at_ms})
        row = await fetch_one(self._pool, "get window", QUERIES["get_window"], {"id": window_id})
        if row is None:
            raise NotFound(f"unknown maintenance window {window_id}")
        return MaintenanceWindow(**row)

    # -- tracks
    async def start_track(self, track: AlarmTrack, planned: Sequence[PlannedMessage] = (),
                          history: Sequence[HistoryEntry] = (),
                          at_ms: int = 0) -> list[int] | None:
        async with transaction(self._pool, "start track") as cur:
            await cur.execute(QUERIES["start_track"], _track_params(track))
            if await cur.fetchone() is None:
                return None
            return await _write_steps(cur, planned, history, at_ms)

    async def tracked(self, alarm_ids: Sequence[int]) -> set[int]:
        if not alarm_ids:
            return set()
        rows = await fetch_all(self._pool, "tracked alarms", QUERIES["tracked"],
                               {"ids": list(alarm_ids)})
        return {r["alarm_id"] for r in rows}

    async def get_track(self, alarm_id: int) -> AlarmTrack | None:
        row = await fetch_one(self._pool, "get track", QUERIES["get_track"],
                              {"alarm_id": alarm_id})
        return None if row is None else _track(row)

    async def count_tracks(self, device_id: str, type: str, since_ms: int) -> int:
        row = await fetch_one(self._pool, "count tracks", QUERIES["count_tracks"],
                              {"device_id": device_id, "type": type, "since_ms": since_ms})
        return int(row["n"]) if row else 0

    async def advance(self, track: AlarmTrack, planned: Sequence[PlannedMessage],
                      history: Sequence[HistoryEntry], at_ms: int) -> list[int]:
        async with transaction(self._pool, "advance track") as cur:
            await cur.execute(QUERIES["save_track"], _track_params(track))
            return await _write_steps(cur, planned, history, at_ms)

    async def queue_message(self, planned: PlannedMessage, at_ms: int) -> int:
        async with transaction(self._pool, "queue message") as cur:
            return await _queue(cur, planned, at_ms)

    async def claim_due_steps(self, now_ms: int, lease_ms: int,
                              limit: int) -> list[AlarmTrack]:
        rows = await fetch_all(self._pool, "claim due steps", QUERIES["claim_due_steps"],
                               {"now_ms": now_ms, "lease_ms": lease_ms, "limit": limit})
        return [_track(r) for r in rows]

    async def claim_digest(self, now_ms: int, lease_ms: int, limit: int) -> list[AlarmTrack]:
        rows = await fetch_all(self._pool, "claim digest", QUERIES["claim_digest"],
                               {"now_ms": now_ms, "lease_ms": lease_ms, "limit": limit})
        return [_track(r) for r in rows]

    async def finish_digest(self, alarm_ids: Sequence[int]) -> None:
        await execute(self._pool, "finish digest", QUERIES["finish_digest"],
                      {"ids": list(alarm_ids)})

    async def stop(self, alarm_id: int, entry: HistoryEntry) -> bool:
        async with transaction(self._pool, "stop track") as cur:
            await cur.execute(QUERIES["stop_track"], {"alarm_id": alarm_id})
            if await cur.fetchone() is None:
                return False
            await cur.execute(QUERIES["insert_history"], _history_params(entry))
            return True

    async def history(self, alarm_id: int) -> list[HistoryEntry]:
        rows = await fetch_all(self._pool, "alarm history", QUERIES["history"],
                               {"alarm_id": alarm_id})
        return [HistoryEntry(
            alarm_id=r["alarm_id"], at_ms=r["at_ms"], kind=HistoryKind(r["kind"]),
            level=r["level"], recipient_id=r["recipient_id"],
            channel=None if r["channel"] is None else Channel(r["channel"]),
            delivery_id=r["delivery_id"], details=r["details"], id=r["id"]) for r in rows]

    async def list_tracks(self, status: TrackStatus | None, limit: int) -> list[AlarmTrack]:
        conditions = [] if status is None else [sql.SQL("status = %(status)s")]
        query = sql.SQL(QUERIES["list_tracks"]).format(where=where_clause(conditions))
        rows = await fetch_all(self._pool, "list tracks", query, {
            "status": None if status is None else status.value, "limit": max(limit, 0)})
        return [_track(r) for r in rows]

    # -- deliveries
    async def claim_due_deliveries(self, now_ms: int, lease_ms: int,
                                   limit: int) -> list[Delivery]:
        rows = await fetch_all(self._pool, "claim deliveries", QUERIES["claim_due_deliveries"],
                               {"now_ms": now_ms, "lease_ms": lease_ms, "limit": limit})
        return [_delivery(r) for r in rows]

    async def record_attempt(self, delivery_id: int, at_ms: int, status: DeliveryStatus,
                             next_attempt_ms: int | None, error: str) -> None:
        await execute(self._pool, "record attempt", QUERIES["record_attempt"], {
            "id": delivery_id, "at_ms": at_ms, "status": status.value,
            "next_attempt_ms": next_attempt_ms, "error": error})

    async def list_deliveries(self, *, alarm_id: int | None = None,
                              status: DeliveryStatus | None = None,
                              limit: int = 100) -> list[Delivery]:
        conditions: list[sql.Composable] = []
        if alarm_id is not None:
            conditions.append(sql.SQL(
                "(d.alarm_id = %(alarm_id)s OR d.id IN (SELECT delivery_id FROM notify_history "
                "WHERE alarm_id = %(alarm_id)s AND delivery_id IS NOT NULL))"))
        if status is not None:
            conditions.append(sql.SQL("d.status = %(status)s"))
        query = sql.SQL(QUERIES["list_deliveries"]).format(where=where_clause(conditions))
        rows = await fetch_all(self._pool, "list deliveries", query, {
            "alarm_id": alarm_id, "status": None if status is None else status.value,
            "limit": max(limit, 0)})
        return [_delivery(r) for r in rows]


async def _write_steps(cur: psycopg.AsyncCursor[Row], planned: Sequence[PlannedMessage],
                       history: Sequence[HistoryEntry], at_ms: int) -> list[int]:
    for entry in history:
        await cur.execute(QUERIES["insert_history"], _history_params(entry))
    return [await _queue(cur, p, at_ms) for p in planned]


async def _queue(cur: psycopg.AsyncCursor[Row], planned: PlannedMessage, at_ms: int) -> int:
    m = planned.message
    await cur.execute(QUERIES["insert_delivery"], {
        "alarm_id": planned.alarm_ids[0] if len(planned.alarm_ids) == 1 else None,
        "recipient_id": planned.recipient_id, "purpose": planned.purpose,
        "channel": m.channel.value, "address": m.address, "subject": m.subject, "body": m.text,
        "link": m.link, "at_ms": at_ms})
    row = await cur.fetchone()
    assert row is not None
    delivery_id = int(row["id"])
    for alarm_id in planned.alarm_ids:
        await cur.execute(QUERIES["insert_history"], _history_params(HistoryEntry(
            alarm_id, at_ms, planned.history, planned.level, planned.recipient_id, m.channel,
            delivery_id, {"address": m.address})))
    return delivery_id


def _track_params(track: AlarmTrack) -> dict[str, Any]:
    params = dataclasses.asdict(track)
    params.update(severity=track.severity.value, status=track.status.value)
    return params


def _history_params(entry: HistoryEntry) -> dict[str, Any]:
    params = dataclasses.asdict(entry)
    params.update(kind=entry.kind.value,
                  channel=None if entry.channel is None else entry.channel.value,
                  details=Jsonb(entry.details))
    return params


def _recipient(row: Row) -> Recipient:
    return Recipient(
        name=row["name"], role=Role(row["role"]),
        channels=tuple(Channel(c) for c in row["channels"]), sites=tuple(row["sites"]),
        min_severity=AlarmSeverity(row["min_severity"]), email=row["email"],
        wecom_user=row["wecom_user"], dingtalk_user=row["dingtalk_user"], phone=row["phone"],
        platform_user=row["platform_user"], locale=row["locale"], active=row["active"],
        id=row["id"], updated_ms=row["updated_ms"], updated_by=row["updated_by"])


def _track(row: Row) -> AlarmTrack:
    return AlarmTrack(
        alarm_id=row["alarm_id"], device_id=row["device_id"], type=row["type"],
        severity=AlarmSeverity(row["severity"]), site=row["site"], raised_ms=row["raised_ms"],
        status=TrackStatus(row["status"]), level=row["level"],
        next_step_ms=row["next_step_ms"], digest_pending=row["digest_pending"],
        reason=row["reason"])


def _delivery(row: Row) -> Delivery:
    return Delivery(
        id=row["id"], message=OutgoingMessage(Channel(row["channel"]), row["address"],
                                              row["subject"], row["body"], row["link"]),
        recipient_id=row["recipient_id"], alarm_id=row["alarm_id"], purpose=row["purpose"],
        status=DeliveryStatus(row["status"]), attempts=row["attempts"],
        created_ms=row["created_ms"], next_attempt_ms=row["next_attempt_ms"],
        delivered_ms=row["delivered_ms"], last_error=row["last_error"])
