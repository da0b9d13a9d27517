"""Access control records and the compiler from the controller's rules to one device's policy.

Pure. The controller keeps people, groups × doors × schedules, holidays and door modes; each
gate or lock gets only what it needs to decide alone: the people allowed at that device with
their schedules, and the face embeddings of those people (``compile_for_device``).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from devices.access_rules import ALWAYS, AccessPolicy, DoorMode, PersonRights, Schedule

PERSON_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
# A rule's target: a device id, or a pattern with * and ? over device ids.
TARGET = re.compile(r"^[a-z0-9*?][a-z0-9*?-]{0,62}$")
MAX_FACES_PER_PERSON = 10
SUSPICIOUS = "suspicious"
"""The audit outcome of a device's grant that the controller's own policy does not contain."""


class Role(StrEnum):
    STUDENT = "student"
    STAFF = "staff"
    VISITOR = "visitor"


class AuditCategory(StrEnum):
    DECISION = "decision"  # a gate or lock granted or denied someone
    DOOR = "door"          # what a door reported: opened, forced, held open, tamper, mode
    COMMAND = "command"    # every command sent to a device, and how it ended
    ADMIN = "admin"        # people, faces, rules and modes changed through the API


@dataclass(frozen=True, slots=True)
class Person:
    person_id: str
    name: str
    role: Role
    groups: tuple[str, ...] = ()
    cards: tuple[str, ...] = ()
    valid_from_ms: int | None = None
    valid_until_ms: int | None = None
    created_ms: int = 0
    updated_ms: int = 0
    face_count: int = 0


@dataclass(frozen=True, slots=True)
class AccessRule:
    rule_id: int
    group: str
    target: str
    schedule: str

    def covers(self, device_id: str) -> bool:
        return fnmatch.fnmatchcase(device_id, self.target)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts_ms: int
    device_id: str | None
    category: AuditCategory
    action: str
    outcome: str
    person_id: str | None
    actor: str | None
    reason: str | None
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccessSnapshot:
    """Everything the compiler reads, as of one ``version``."""

    version: int
    people: Sequence[Person]
    rules: Sequence[AccessRule]
    schedules: Mapping[str, Schedule]
    holidays: frozenset[dt.date]
    modes: Mapping[str, DoorMode]


def compile_for_device(snapshot: AccessSnapshot, device_id: str, timezone: str
                       ) -> AccessPolicy:
    """The policy for one device: who may pass there and when.

    A person is listed when one of their groups has a rule covering the device; their
    schedules are those of every such rule. Schedules no listed person uses are left out, so a
    lock in one dorm learns nothing about the rest of the campus."""
    schedules_by_group: dict[str, set[str]] = {}
    for rule in snapshot.rules:
        if rule.covers(device_id):
            schedules_by_group.setdefault(rule.group, set()).add(rule.schedule)
    people: dict[str, PersonRights] = {}
    used: set[str] = set()
    for person in snapshot.people:
        names: set[str] = set()
        for group in person.groups:
            names |= schedules_by_group.get(group, set())
        # A rule naming a schedule that was since deleted grants nothing (fail closed).
        names = {n for n in names if n == ALWAYS or n in snapshot.schedules}
        if not names:
            continue
        used |= names
        people[person.person_id] = PersonRights(
            person.person_id, tuple(sorted(names)), person.valid_from_ms, person.valid_until_ms,
            person.cards)
    return AccessPolicy(
        version=snapshot.version, timezone=timezone,
        mode=snapshot.modes.get(device_id, DoorMode.NORMAL),
        schedules={n: s for n, s in snapshot.schedules.items() if n in used},
        holidays=snapshot.holidays,
        people=people)


def devices_affected(rules: Iterable[AccessRule], groups: Iterable[str],
                     device_ids: Iterable[str]) -> list[str]:
    """The devices whose policy can change when people of ``groups`` change."""
    groups = set(groups)
    targets = [r.target for r in rules if r.group in groups]
    return [d for d in device_ids if any(fnmatch.fnmatchcase(d, t) for t in targets)]


def grant_doubt(policy: AccessPolicy, data: Mapping[str, object], at_ms: int) -> str | None:
    """Why the controller doubts a device's ``access.granted`` (the event's ``data``, decided
    at ``at_ms``), or None when its own policy for that device grants the same.

    The device decided from a policy the controller compiled, so a grant that policy does not
    contain was forged, or came from a device that ignores its policy. A card names its owner
    through the policy's cards: ``unknown_card``, or ``card_of_another_person`` when the event
    names someone else. Then the policy's own decision for the person: ``unknown_person`` (no
    rule lets them in here), ``outside_schedule``, ``pass_expired``, ``not_yet_valid`` or
    ``locked_down``. A door in free pass lets anyone through; a remote grant is the
    controller's own signed ``door.unlock`` (the lock checks that signature)."""
    method = data.get("method")
    if method == "remote" or policy.mode is DoorMode.FREE_PASS:
        return None
    person_id = data.get("person_id")
    if person_id is not None and not isinstance(person_id, str):
        return "unknown_person"
    card = data.get("credential")
    if method == "card" and card is not None:
        owner = policy.person_for_card(card) if isinstance(card, str) else None
        if owner is None:
            return "unknown_card"
        if person_id is not None and person_id != owner:
            return "card_of_another_person"
        person_id = owner
    decision = policy.decide(person_id, at_ms)
    return None if decision.granted else decision.reason.value
