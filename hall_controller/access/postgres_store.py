"""``AccessStore`` over PostgreSQL (migration 0008), on the controller's pool.

Each write is one transaction that also bumps ``access_version`` and appends an ``admin`` audit
entry, so a device that syncs sees either none or all of a change, and the audit names who made
it. Decisions and commands reach the audit by triggers (see the migration).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from devices.access_rules import DoorMode, Schedule, schedule_from_wire
from hall_controller.access.rules import (
    AccessRule,
    AccessSnapshot,
    AuditCategory,
    AuditEntry,
    Person,
    Role,
)
from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.kernel.postgres.connections import Row, connection

_PERSON_COLUMNS = """
    p.person_id, p.name, p.role, p.groups, p.cards,
    hall_ms(p.valid_from) AS valid_from_ms, hall_ms(p.valid_until) AS valid_until_ms,
    hall_ms(p.created_at) AS created_ms, hall_ms(p.updated_at) AS updated_ms,
    (SELECT count(*) FROM face_embeddings f WHERE f.person_id = p.person_id) AS face_count
"""

_BUMP = "UPDATE access_version SET version = version + 1"

_ADMIN_AUDIT = """
    INSERT INTO access_audit (ts, device_id, category, action, outcome, person_id, actor,
                              reason, details)
    VALUES (now(), %(device_id)s, 'admin', %(action)s, %(outcome)s, %(person_id)s, %(actor)s,
            %(reason)s, %(details)s)
"""


def _person(row: Row) -> Person:
    return Person(
        person_id=row["person_id"], name=row["name"], role=Role(row["role"]),
        groups=tuple(row["groups"]), cards=tuple(row["cards"]),
        valid_from_ms=row["valid_from_ms"], valid_until_ms=row["valid_until_ms"],
        created_ms=row["created_ms"], updated_ms=row["updated_ms"],
        face_count=int(row["face_count"]))


@asynccontextmanager
async def _transaction(pool: AsyncConnectionPool, what: str, *, snapshot: bool = False
                       ) -> AsyncIterator[psycopg.AsyncCursor[Row]]:
    """A dict cursor inside one transaction (the pool's connections are autocommit)."""
    async with connection(pool, what) as conn, conn.transaction(), \
            conn.cursor(row_factory=dict_row) as cur:
        if snapshot:
            await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield cur


class PostgresAccessStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _changed(self, cur: psycopg.AsyncCursor[Row], action: str, actor: str, *,
                       person_id: str | None = None, device_id: str | None = None,
                       details: dict[str, Any] | None = None) -> None:
        """Bump the version and audit the change, inside the caller's transaction."""
        await cur.execute(_BUMP)
        await cur.execute(_ADMIN_AUDIT, {
            "device_id": device_id, "action": action, "outcome": "done",
            "person_id": person_id, "actor": actor, "reason": None,
            "details": Jsonb(details or {})})

    async def access_version(self) -> int:
        async with _transaction(self._pool, "access version") as cur:
            await cur.execute("SELECT version FROM access_version")
            row = await cur.fetchone()
        assert row is not None  # the migration inserts the one row
        return int(row["version"])

    async def snapshot(self) -> AccessSnapshot:
        # One REPEATABLE READ transaction: the version matches what is read with it.
        async with _transaction(self._pool, "access snapshot", snapshot=True) as cur:
            await cur.execute("SELECT version FROM access_version")
            version_row = await cur.fetchone()
            await cur.execute(f"SELECT {_PERSON_COLUMNS} FROM persons p ORDER BY p.person_id")
            people = [_person(r) for r in await cur.fetchall()]
            await cur.execute("SELECT rule_id, group_name, target, schedule FROM access_rules "
                              "ORDER BY rule_id")
            rules = [AccessRule(r["rule_id"], r["group_name"], r["target"], r["schedule"])
                     for r in await cur.fetchall()]
            await cur.execute("SELECT name, definition FROM access_schedules")
            schedules: dict[str, Schedule] = {
                r["name"]: schedule_from_wire(r["name"], r["definition"])
                for r in await cur.fetchall()}
            await cur.execute("SELECT day FROM access_holidays")
            holidays = frozenset(r["day"] for r in await cur.fetchall())
            await cur.execute("SELECT device_id, mode FROM door_modes")
            modes = {r["device_id"]: DoorMode(r["mode"]) for r in await cur.fetchall()}
        assert version_row is not None
        return AccessSnapshot(int(version_row["version"]), people, rules, schedules, holidays,
                              modes)

    async def embeddings_for(self, person_ids: Sequence[str]) -> dict[str, list[bytes]]:
        found: dict[str, list[bytes]] = {}
        if not person_ids:
            return found
        async with _transaction(self._pool, "face embeddings") as cur:
            await cur.execute("SELECT person_id, embedding FROM face_embeddings "
                              "WHERE person_id = ANY(%s) ORDER BY person_id, id",
                              (list(person_ids),))
            for row in await cur.fetchall():
                found.setdefault(row["person_id"], []).append(bytes(row["embedding"]))
        return found

    async def upsert_person(self, person: Person, actor: str) -> tuple[Person, bool]:
        async with _transaction(self._pool, "save person") as cur:
            await cur.execute("""
                INSERT INTO persons (person_id, name, role, groups, cards, valid_from,
                                     valid_until, created_at, updated_at)
                VALUES (%(person_id)s, %(name)s, %(role)s, %(groups)s, %(cards)s,
                        hall_ts(%(valid_from_ms)s), hall_ts(%(valid_until_ms)s), now(), now())
                ON CONFLICT (person_id) DO UPDATE SET
                    name = EXCLUDED.name, role = EXCLUDED.role, groups = EXCLUDED.groups,
                    cards = EXCLUDED.cards, valid_from = EXCLUDED.valid_from,
                    valid_until = EXCLUDED.valid_until, updated_at = now()
                RETURNING (xmax = 0) AS created
            """, {"person_id": person.person_id, "name": person.name, "role": person.role.value,
                  "groups": list(person.groups), "cards": list(person.cards),
                  "valid_from_ms": person.valid_from_ms, "valid_until_ms": person.valid_until_ms})
            created_row = await cur.fetchone()
            assert created_row is not None
            created = bool(created_row["created"])
            await self._changed(cur, "person.created" if created else "person.updated", actor,
                                person_id=person.person_id,
                                details={"role": person.role.value, "groups": list(person.groups)})
            await cur.execute(f"SELECT {_PERSON_COLUMNS} FROM persons p WHERE person_id = %s",
                              (person.person_id,))
            row = await cur.fetchone()
        assert row is not None
        return _person(row), created

    async def get_person(self, person_id: str) -> Person | None:
        async with _transaction(self._pool, "person") as cur:
            await cur.execute(f"SELECT {_PERSON_COLUMNS} FROM persons p WHERE person_id = %s",
                              (person_id,))
            row = await cur.fetchone()
        return None if row is None else _person(row)

    async def list_persons(self, *, group: str | None, role: str | None, limit: int,
                           offset: int) -> list[Person]:
        async with _transaction(self._pool, "persons") as cur:
            await cur.execute(f"""
                SELECT {_PERSON_COLUMNS} FROM persons p
                WHERE (%(group)s::text IS NULL OR %(group)s = ANY(p.groups))
                  AND (%(role)s::text IS NULL OR p.role = %(role)s)
                ORDER BY p.person_id LIMIT %(limit)s OFFSET %(offset)s
            """, {"group": group, "role": role, "limit": limit, "offset": offset})
            return [_person(r) for r in await cur.fetchall()]

    async def delete_person(self, person_id: str, actor: str) -> Person | None:
        async with _transaction(self._pool, "delete person") as cur:
            await cur.execute(f"SELECT {_PERSON_COLUMNS} FROM persons p WHERE person_id = %s "
                              "FOR UPDATE", (person_id,))
            row = await cur.fetchone()
            if row is None:
                return None
            await cur.execute("DELETE FROM persons WHERE person_id = %s", (person_id,))
            await self._changed(cur, "person.deleted", actor, person_id=person_id,
                                details={"faces_deleted": int(row["face_count"])})
        return _person(row)

    async def add_faces(self, person_id: str, embeddings: Sequence[bytes], actor: str,
                        max_faces: int) -> int:
        async with _transaction(self._pool, "enrol faces") as cur:
            # The row lock serialises two enrolments of one person, so the cap holds.
            await cur.execute("SELECT 1 FROM persons WHERE person_id = %s FOR UPDATE",
                              (person_id,))
            if await cur.fetchone() is None:
                raise NotFound(f"unknown person {person_id!r}")
            await cur.execute("SELECT count(*) AS n FROM face_embeddings WHERE person_id = %s",
                              (person_id,))
            row = await cur.fetchone()
            have = int(row["n"]) if row else 0
            if have + len(embeddings) > max_faces:
                raise Conflict(f"person {person_id!r} has {have} faces enrolled; at most "
                               f"{max_faces} are kept (delete them first to re-enrol)")
            await cur.executemany(
                "INSERT INTO face_embeddings (person_id, embedding, created_at) "
                "VALUES (%s, %s, now())", [(person_id, e) for e in embeddings])
            await self._changed(cur, "faces.enrolled", actor, person_id=person_id,
                                details={"added": len(embeddings)})
        return have + len(embeddings)

    async def clear_faces(self, person_id: str, actor: str) -> int:
        async with _transaction(self._pool, "delete faces") as cur:
            await cur.execute("DELETE FROM face_embeddings WHERE person_id = %s", (person_id,))
            deleted = cur.rowcount
            await self._changed(cur, "faces.deleted", actor, person_id=person_id,
                                details={"deleted": deleted})
        return deleted

    async def put_schedule(self, name: str, definition: dict[str, Any], actor: str) -> None:
        async with _transaction(self._pool, "save schedule") as cur:
            await cur.execute("""
                INSERT INTO access_schedules (name, definition, updated_at)
                VALUES (%s, %s, now())
                ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition,
                                                 updated_at = now()
            """, (name, Jsonb(definition)))
            await self._changed(cur, "schedule.saved", actor, details={"name": name, **definition})

    async def delete_schedule(self, name: str, actor: str) -> bool:
        async with _transaction(self._pool, "delete schedule") as cur:
            await cur.execute("SELECT count(*) AS n FROM access_rules WHERE schedule = %s", (name,))
            row = await cur.fetchone()
            if row is not None and row["n"]:
                raise Conflict(f"schedule {name!r} is used by {row['n']} rule(s); delete them first")
            await cur.execute("DELETE FROM access_schedules WHERE name = %s", (name,))
            if cur.rowcount == 0:
                return False
            await self._changed(cur, "schedule.deleted", actor, details={"name": name})
        return True

    async def add_rule(self, group: str, target: str, schedule: str, actor: str) -> AccessRule:
        async with _transaction(self._pool, "add rule") as cur:
            if schedule != "always":
                await cur.execute("SELECT 1 FROM access_schedules WHERE name = %s", (schedule,))
                if await cur.fetchone() is None:
                    raise NotFound(f"unknown schedule {schedule!r}")
            try:
                await cur.execute("""
                    INSERT INTO access_rules (group_name, target, schedule, created_at)
                    VALUES (%s, %s, %s, now()) RETURNING rule_id
                """, (group, target, schedule))
            except psycopg.errors.UniqueViolation:
                raise Conflict(f"rule {group} → {target} ({schedule}) exists already") from None
            row = await cur.fetchone()
            assert row is not None
            await self._changed(cur, "rule.added", actor, details={
                "rule_id": row["rule_id"], "group": group, "target": target,
                "schedule": schedule})
        return AccessRule(int(row["rule_id"]), group, target, schedule)

    async def delete_rule(self, rule_id: int, actor: str) -> bool:
        async with _transaction(self._pool, "delete rule") as cur:
            await cur.execute("DELETE FROM access_rules WHERE rule_id = %s "
                              "RETURNING group_name, target, schedule", (rule_id,))
            row = await cur.fetchone()
            if row is None:
                return False
            await self._changed(cur, "rule.deleted", actor, details={"rule_id": rule_id, **row})
        return True

    async def put_holiday(self, day: dt.date, name: str, actor: str) -> None:
        async with _transaction(self._pool, "save holiday") as cur:
            await cur.execute("INSERT INTO access_holidays (day, name) VALUES (%s, %s) "
                              "ON CONFLICT (day) DO UPDATE SET name = EXCLUDED.name", (day, name))
            await self._changed(cur, "holiday.saved", actor,
                                details={"day": day.isoformat(), "name": name})

    async def delete_holiday(self, day: dt.date, actor: str) -> bool:
        async with _transaction(self._pool, "delete holiday") as cur:
            await cur.execute("DELETE FROM access_holidays WHERE day = %s", (day,))
            if cur.rowcount == 0:
                return False
            await self._changed(cur, "holiday.deleted", actor, details={"day": day.isoformat()})
        return True

    async def set_mode(self, device_id: str, mode: DoorMode, actor: str) -> None:
        async with _transaction(self._pool, "door mode") as cur:
            await cur.execute("""
                INSERT INTO door_modes (device_id, mode, changed_at, changed_by)
                VALUES (%s, %s, now(), %s)
                ON CONFLICT (device_id) DO UPDATE SET mode = EXCLUDED.mode,
                    changed_at = now(), changed_by = EXCLUDED.changed_by
            """, (device_id, mode.value, actor))
            await self._changed(cur, "door.mode_set", actor, device_id=device_id,
                                details={"mode": mode.value})

    async def audit(self, *, device_id: str | None, person_id: str | None,
                    category: AuditCategory | None, before_id: int | None,
                    limit: int) -> list[AuditEntry]:
        async with _transaction(self._pool, "access audit") as cur:
            await cur.execute("""
                SELECT id, hall_ms(ts) AS ts_ms, device_id, category, action, outcome,
                       person_id, actor, reason, details
                FROM access_audit
                WHERE (%(device_id)s::text IS NULL OR device_id = %(device_id)s)
                  AND (%(person_id)s::text IS NULL OR person_id = %(person_id)s)
                  AND (%(category)s::text IS NULL OR category = %(category)s)
                  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
                ORDER BY id DESC LIMIT %(limit)s
            """, {"device_id": device_id, "person_id": person_id,
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
        async with _transaction(self._pool, "audit") as cur:
            await cur.execute(_ADMIN_AUDIT, {
                "device_id": device_id, "action": action, "outcome": outcome,
                "person_id": person_id, "actor": actor, "reason": reason,
                "details": Jsonb(details or {})})
