"""``AccessStore`` over PostgreSQL (migration 0008), on the controller's pool; the SQL is in
``sql/access.sql``.

Each write is one transaction that also bumps ``access_version`` and appends an ``admin`` audit
entry, so a device that syncs sees either none or all of a change, and the audit names who made
it. Decisions and commands reach the audit by triggers (see the migration).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from devices.access_rules import DoorMode, Schedule, schedule_from_wire
from hall_controller.access.queries import QUERIES
from hall_controller.access.rules import (
    AccessRule,
    AccessSnapshot,
    AuditCategory,
    AuditEntry,
    Person,
    Role,
)
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.kernel.postgres.connections import Row, transaction


def _person(row: Row) -> Person:
    return Person(
        person_id=row["person_id"], name=row["name"], role=Role(row["role"]),
        groups=tuple(row["groups"]), cards=tuple(row["cards"]),
        valid_from_ms=row["valid_from_ms"], valid_until_ms=row["valid_until_ms"],
        created_ms=row["created_ms"], updated_ms=row["updated_ms"],
        face_count=int(row["face_count"]))


class PostgresAccessStore:
    """People, faces, schedules, rules, holidays, door modes and the audit, over an open pool
    it does not own."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _changed(self, cur: psycopg.AsyncCursor[Row], action: str, actor: str, *,
                       person_id: str | None = None, device_id: str | None = None,
                       details: dict[str, Any] | None = None) -> None:
        """Bump the version and audit the change, inside the caller's transaction."""
        await cur.execute(QUERIES["bump_access_version"])
        await cur.execute(QUERIES["insert_admin_audit"], {
            "device_id": device_id, "action": action, "outcome": "done",
            "person_id": person_id, "actor": actor, "reason": None,
            "details": Jsonb(details or {})})

    async def access_version(self) -> int:
        async with transaction(self._pool, "access version") as cur:
            await cur.execute(QUERIES["access_version"])
            row = await cur.fetchone()
        assert row is not None  # the migration inserts the one row
        return int(row["version"])

    async def snapshot(self) -> AccessSnapshot:
        # One REPEATABLE READ transaction: the version matches what is read with it.
        async with transaction(self._pool, "access snapshot", repeatable_read=True) as cur:
            await cur.execute(QUERIES["access_version"])
            version_row = await cur.fetchone()
            await cur.execute(QUERIES["snapshot_persons"])
            people = [_person(r) for r in await cur.fetchall()]
            await cur.execute(QUERIES["snapshot_rules"])
            rules = [AccessRule(r["rule_id"], r["group_name"], r["target"], r["schedule"])
                     for r in await cur.fetchall()]
            await cur.execute(QUERIES["snapshot_schedules"])
            schedules: dict[str, Schedule] = {
                r["name"]: schedule_from_wire(r["name"], r["definition"])
                for r in await cur.fetchall()}
            await cur.execute(QUERIES["snapshot_holidays"])
            holidays = frozenset(r["day"] for r in await cur.fetchall())
            await cur.execute(QUERIES["snapshot_door_modes"])
            modes = {r["device_id"]: DoorMode(r["mode"]) for r in await cur.fetchall()}
        assert version_row is not None
        return AccessSnapshot(int(version_row["version"]), people, rules, schedules, holidays,
                              modes)

    async def embeddings_for(self, person_ids: Sequence[str]) -> dict[str, list[bytes]]:
        found: dict[str, list[bytes]] = {}
        if not person_ids:
            return found
        async with transaction(self._pool, "face embeddings") as cur:
            await cur.execute(QUERIES["face_embeddings_of"], {"person_ids": list(person_ids)})
            for row in await cur.fetchall():
                found.setdefault(row["person_id"], []).append(bytes(row["embedding"]))
        return found

    async def upsert_person(self, person: Person, actor: str) -> tuple[Person, bool]:
        async with transaction(self._pool, "save person") as cur:
            await cur.execute(QUERIES["upsert_person"], {
                "person_id": person.person_id, "name": person.name, "role": person.role.value,
                "groups": list(person.groups), "cards": list(person.cards),
                "valid_from_ms": person.valid_from_ms, "valid_until_ms": person.valid_until_ms})
            created_row = await cur.fetchone()
            assert created_row is not None
            created = bool(created_row["created"])
            await self._changed(cur, "person.created" if created else "person.updated", actor,
                                person_id=person.person_id,
                                details={"role": person.role.value, "groups": list(person.groups)})
            await cur.execute(QUERIES["get_person"], {"person_id": person.person_id})
            row = await cur.fetchone()
        assert row is not None
        return _person(row), created

    async def get_person(self, person_id: str) -> Person | None:
        async with transaction(self._pool, "person") as cur:
            await cur.execute(QUERIES["get_person"], {"person_id": person_id})
            row = await cur.fetchone()
        return None if row is None else _person(row)

    async def list_persons(self, *, group: str | None, role: str | None, limit: int,
                           offset: int) -> list[Person]:
        async with transaction(self._pool, "persons") as cur:
            await cur.execute(QUERIES["list_persons"], {
                "group": group, "role": role, "limit": limit, "offset": offset})
            return [_person(r) for r in await cur.fetchall()]

    async def delete_person(self, person_id: str, actor: str) -> Person | None:
        async with transaction(self._pool, "delete person") as cur:
            await cur.execute(QUERIES["lock_person_for_delete"], {"person_id": person_id})
            row = await cur.fetchone()
            if row is None:
                return None
            await cur.execute(QUERIES["delete_person"], {"person_id": person_id})
            await self._changed(cur, "person.deleted", actor, person_id=person_id,
                                details={"faces_deleted": int(row["face_count"])})
        return _person(row)

    async def add_faces(self, person_id: str, embeddings: Sequence[bytes], actor: str,
                        max_faces: int) -> int:
        async with transaction(self._pool, "enrol faces") as cur:
            # The row lock serialises two enrolments of one person, so the cap holds.
            await cur.execute(QUERIES["lock_person"], {"person_id": person_id})
            if await cur.fetchone() is None:
                raise NotFound(f"unknown person {person_id!r}",
                               code=ErrorCode.PERSON_UNKNOWN, person=person_id)
            await cur.execute(QUERIES["count_faces"], {"person_id": person_id})
            row = await cur.fetchone()
            have = int(row["n"]) if row else 0
            if have + len(embeddings) > max_faces:
                raise Conflict(f"person {person_id!r} has {have} faces enrolled; at most "
                               f"{max_faces} are kept (delete them first to re-enrol)",
                               code=ErrorCode.FACES_TOO_MANY, max=max_faces)
            await cur.executemany(QUERIES["insert_face"], [
                {"person_id": person_id, "embedding": e} for e in embeddings])
            await self._changed(cur, "faces.enrolled", actor, person_id=person_id,
                                details={"added": len(embeddings)})
        return have + len(embeddings)

    async def clear_faces(self, person_id: str, actor: str) -> int:
        async with transaction(self._pool, "delete faces") as cur:
            await cur.execute(QUERIES["delete_faces"], {"person_id": person_id})
            deleted = cur.rowcount
            await self._changed(cur, "faces.deleted", actor, person_id=person_id,
                                details={"deleted": deleted})
        return deleted

    async def put_schedule(self, name: str, definition: dict[str, Any], actor: str) -> None:
        async with transaction(self._pool, "save schedule") as cur:
            await cur.execute(QUERIES["upsert_schedule"],
                              {"name": name, "definition": Jsonb(definition)})
            await self._changed(cur, "schedule.saved", actor, details={"name": name, **definition})

    async def delete_schedule(self, name: str, actor: str) -> bool:
        async with transaction(self._pool, "delete schedule") as cur:
            await cur.execute(QUERIES["count_rules_using_schedule"], {"name": name})
            row = await cur.fetchone()
            if row is not None and row["n"]:
                raise Conflict(f"schedule {name!r} is used by {row['n']} rule(s); delete them first",
                               code=ErrorCode.SCHEDULE_IN_USE, schedule=name, rules=row["n"])
            await cur.execute(QUERIES["delete_schedule"], {"name": name})
            if cur.rowcount == 0:
                return False
            await self._changed(cur, "schedule.deleted", actor, details={"name": name})
        return True

    async def add_rule(self, group: str, target: str, schedule: str, actor: str) -> AccessRule:
        async with transaction(self._pool, "add rule") as cur:
            if schedule != "always":
                await cur.execute(QUERIES["schedule_exists"], {"name": schedule})
                if await cur.fetchone() is None:
                    raise NotFound(f"unknown schedule {schedule!r}",
                                   code=ErrorCode.SCHEDULE_UNKNOWN, schedule=schedule)
            try:
                await cur.execute(QUERIES["insert_rule"],
                                  {"group": group, "target": target, "schedule": schedule})
            except psycopg.errors.UniqueViolation:
                raise Conflict(f"rule {group} → {target} ({schedule}) exists already",
                               code=ErrorCode.RULE_EXISTS) from None
            row = await cur.fetchone()
            assert row is not None
            await self._changed(cur, "rule.added", actor, details={
                "rule_id": row["rule_id"], "group": group, "target": target,
                "schedule": schedule})
        return AccessRule(int(row["rule_id"]), group, target, schedule)

    async def delete_rule(self, rule_id: int, actor: str) -> bool:
        async with transaction(self._pool, "delete rule") as cur:
            await cur.execute(QUERIES["delete_rule"], {"rule_id": rule_id})
            row = await cur.fetchone()
            if row is None:
                return False
            await self._changed(cur, "rule.deleted", actor, details={"rule_id": rule_id, **row})
        return True

    async def put_holiday(self, day: dt.date, name: str, actor: str) -> None:
        async with transaction(self._pool, "save holiday") as cur:
            await cur.execute(QUERIES["upsert_holiday"], {"day": day, "name": name})
            await self._changed(cur, "holiday.saved", actor,
                                details={"day": day.isoformat(), "name": name})

    async def delete_holiday(self, day: dt.date, actor: str) -> bool:
        async with transaction(self._pool, "delete holiday") as cur:
            await cur.execute(QUERIES["delete_holiday"], {"day": day})
            if cur.rowcount == 0:
                return False
            await self._changed(cur, "holiday.deleted", actor, details={"day": day.isoformat()})
        return True

    async def set_mode(self, device_id: str, mode: DoorMode, actor: str) -> None:
        async with transaction(self._pool, "door mode") as cur:
            await cur.execute(QUERIES["upsert_door_mode"],
                              {"device_id": device_id, "mode": mode.value, "actor": actor})
            await self._changed(cur, "door.mode_set", actor, device_id=device_id,
                                details={"mode": mode.value})

    async def audit(self, *, device_id: str | None, person_id: str | None,
                    category: AuditCategory | None, before_id: int | None,
                    limit: int) -> list[AuditEntry]:
        async with transaction(self._pool, "access audit") as cur:
            await cur.execute(QUERIES["list_audit"], {
                "device_id": device_id, "person_id": person_id,
                "category": None if category is None else category.value,
                "before_id": before_id, "limit": limit})
            rows = await cur.fetchall()
        return [AuditEntry(r["id"], r["ts_ms"], r["device_id"], AuditCategory(r["category"]),
                           r["action"], r["outcome"], r["person_id"], r["actor"], r["reason"],
                           r["details"]) for r in rows]

    async def record_admin(self, action: str, actor: str, *, device_id: str | None = None,
                           person_id: str | None = None, outcome: str = "done",
                           reason: str | None = None,
                           details: dict[str, Any] | None = None) -> None:
        async with transaction(self._pool, "audit") as cur:
            await cur.execute(QUERIES["insert_admin_audit"], {
                "device_id": device_id, "action": action, "outcome": outcome,
                "person_id": person_id, "actor": actor, "reason": reason,
                "details": Jsonb(details or {})})

    async def record_suspicious_decision(self, event_id: str, device_id: str, ts_ms: int, *,
                                         method: str, person_id: str | None, reason: str,
                                         details: dict[str, Any]) -> None:
        async with transaction(self._pool, "audit") as cur:
            await cur.execute(QUERIES["insert_suspicious_decision"], {
                "event_id": event_id, "device_id": device_id, "ts_ms": ts_ms, "method": method,
                "person_id": person_id, "reason": reason, "details": Jsonb(details)})

    async def record_policy_refusal(self, event_id: str, device_id: str, ts_ms: int, *,
                                    reason: str, details: dict[str, Any]) -> None:
        async with transaction(self._pool, "audit") as cur:
            await cur.execute(QUERIES["insert_policy_refusal"], {
                "event_id": event_id, "device_id": device_id, "ts_ms": ts_ms, "reason": reason,
                "details": Jsonb(details)})
