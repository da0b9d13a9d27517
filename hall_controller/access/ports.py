"""The access-control storage port: people, faces, rules, modes, the sync version and the audit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from devices.access_rules import DoorMode
from hall_controller.access.rules import AccessRule, AccessSnapshot, AuditCategory, AuditEntry, Person


class AccessStore(Protocol):
    """Every write that changes what devices hold bumps the access version in the same
    transaction and writes an ``admin`` audit entry naming the actor."""

    async def access_version(self) -> int: ...

    async def snapshot(self) -> AccessSnapshot: ...

    async def embeddings_for(self, person_ids: Sequence[str]) -> dict[str, list[bytes]]: ...

    async def upsert_person(self, person: Person, actor: str) -> tuple[Person, bool]:
        """Insert or replace; returns the stored person and whether it was new."""
        ...

    async def get_person(self, person_id: str) -> Person | None: ...

    async def list_persons(self, *, group: str | None, role: str | None, limit: int,
                           offset: int) -> list[Person]: ...

    async def delete_person(self, person_id: str, actor: str) -> Person | None:
        """Delete the person and every embedding of theirs; None if there was none."""
        ...

    async def add_faces(self, person_id: str, embeddings: Sequence[bytes], actor: str,
                        max_faces: int) -> int:
        """Store the embeddings; returns the person's face count. Raises NotFound, or
        Conflict when the person would have more than ``max_faces``."""
        ...

    async def clear_faces(self, person_id: str, actor: str) -> int: ...

    async def put_schedule(self, name: str, definition: dict[str, Any], actor: str) -> None: ...

    async def delete_schedule(self, name: str, actor: str) -> bool: ...

    async def add_rule(self, group: str, target: str, schedule: str, actor: str) -> AccessRule:
        ...

    async def delete_rule(self, rule_id: int, actor: str) -> bool: ...

    async def put_holiday(self, day: dt.date, name: str, actor: str) -> None: ...

    async def delete_holiday(self, day: dt.date, actor: str) -> bool: ...

    async def set_mode(self, device_id: str, mode: DoorMode, actor: str) -> None: ...

    async def audit(self, *, device_id: str | None, person_id: str | None,
                    category: AuditCategory | None, before_id: int | None,
                    limit: int) -> list[AuditEntry]: ...

    async def record_admin(self, action: str, actor: str, *, device_id: str | None = None,
                           person_id: str | None = None, outcome: str = "done",
                           reason: str | None = None,
                           details: dict[str, Any] | None = None) -> None: ...

    async def record_suspicious_decision(self, event_id: str, device_id: str, ts_ms: int, *,
                                         method: str, person_id: str | None, reason: str,
                                         details: dict[str, Any]) -> None:
        """Append a ``decision`` entry with outcome ``suspicious`` for the device's event
        ``event_id`` (the device's own ``granted`` entry stays: the audit is append-only);
        once per event."""
        ...

    async def record_policy_refusal(self, event_id: str, device_id: str, ts_ms: int, *,
                                    reason: str, details: dict[str, Any]) -> None:
        """Append a ``door`` entry with outcome ``refused``: the device refused the policy it
        was sent (``reason`` is its code); once per event."""
        ...
