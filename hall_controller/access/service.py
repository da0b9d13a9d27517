"""Access control use cases: people and faces, rules, device sync, remote unlock, door modes.

The controller never decides at the door: gates and locks decide from the policy and gallery
they synced (``access.sync``), so they keep working while the controller is away. What the
controller does is keep the truth (people, groups × doors × schedules, holidays, modes), push
"refresh" to the devices a change affects, sign door commands, and audit everything.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from devices.access_rules import AccessPolicy, DoorMode, schedule_from_wire, schedule_to_wire
from devices.contract import Command, now_ms
from devices.kinds import DeviceKind
from devices.policy_signing import DeviceKeys, sign_policy_reply
from hall_controller.access.ports import AccessStore
from hall_controller.access.rules import (
    GROUP,
    MAX_FACES_PER_PERSON,
    PERSON_ID,
    TARGET,
    AccessRule,
    AccessSnapshot,
    AuditCategory,
    AuditEntry,
    Person,
    Role,
    compile_for_device,
)
from hall_controller.fleet.commands import CommandService
from hall_controller.fleet.model import CommandRecord, DeviceRecord
from hall_controller.fleet.registry import DeviceRegistry
from hall_controller.fleet.requests import RequestError
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, HallError, NotFound

logger = logging.getLogger(__name__)

ACCESS_KINDS = frozenset({DeviceKind.FACE_GATE, DeviceKind.DOOR_LOCK})
SIGNED_COMMAND_TTL_S = 8.0  # a lock refuses a signed command whose expiry is over 10 s ahead
UNLOCK_MAX_S = 60.0
MAX_PHOTO_BYTES = 10 * 1024 * 1024
_CARD = re.compile(r"^[0-9A-Za-z]{4,32}$")

# (command, device id) → the same command, signed for that device (see devices.signing).
Signer = Callable[[Command, str], Command]


class InvalidAccessInput(HallError, ValueError):
    """A person, rule, schedule or photo the controller refuses; the message says which field."""

    default_code = ErrorCode.INVALID


class EnrolmentRefused(HallError):
    """One of the photos failed a quality check; nothing was stored."""

    def __init__(self, photo: int, code: str, message: str) -> None:
        super().__init__(f"photo {photo}: {code}: {message}", code=ErrorCode.ENROLMENT_REFUSED,
                         photo=photo, reason=code)
        self.photo = photo  # 1-based position in the upload
        self.code = code    # no_face, several_faces, face_too_small, too_blurred, not_an_image, ...
        self.message = message


def person_from_input(person_id: str, name: str, role: str, *, groups: Sequence[str],
                      cards: Sequence[str], valid_from_ms: int | None,
                      valid_until_ms: int | None) -> Person:
    """Validate what an admin typed; InvalidAccessInput names the field."""
    if not PERSON_ID.match(person_id):
        raise InvalidAccessInput("person_id: 1-64 letters, digits, '.', '_', ':' or '-'")
    if not name.strip() or len(name) > 200:
        raise InvalidAccessInput("name: 1-200 characters")
    try:
        parsed_role = Role(role)
    except ValueError:
        raise InvalidAccessInput(f"role: one of {', '.join(r.value for r in Role)}") from None
    for group in groups:
        if not GROUP.match(group):
            raise InvalidAccessInput(f"groups: {group!r} is not a group name (1-64 letters, "
                                     "digits, '.', '_', ':' or '-')")
    for card in cards:
        if not _CARD.match(card):
            raise InvalidAccessInput(f"cards: {card!r} is not a card number (4-32 letters or digits)")
    if valid_from_ms is not None and valid_until_ms is not None and valid_until_ms <= valid_from_ms:
        raise InvalidAccessInput("valid_until_ms: must be after valid_from_ms")
    if parsed_role is Role.VISITOR and valid_until_ms is None:
        raise InvalidAccessInput("valid_until_ms: a visitor pass needs an expiry")
    return Person(person_id, name.strip(), parsed_role, tuple(dict.fromkeys(groups)),
                  tuple(dict.fromkeys(cards)), valid_from_ms, valid_until_ms)


def embedding_to_wire(raw: bytes) -> str:
    """The gallery's wire form of one stored embedding (128 float32, little-endian)."""
    return base64.b64encode(raw).decode("ascii")


class AccessService:
    def __init__(self, store: AccessStore, registry: DeviceRegistry, commands: CommandService,
                 *, signer: Signer | None, device_keys: DeviceKeys | None = None,
                 unsigned_when_keyless: bool = False,
                 timezone: str = "Asia/Shanghai", clock: Callable[[], int] = now_ms) -> None:
        """``signer``: signs door commands with the device's key; without one, remote unlock and
        mode changes are refused (a lock would refuse them anyway). ``device_keys``: the key
        each device holds, which signs its ``access.sync`` replies; without it (demo and
        development only) replies go unsigned, and only a device without a key applies them.
        ``unsigned_when_keyless``: a device ``device_keys`` has no key for gets an unsigned
        reply instead of the ``no_device_key`` error (a controller without a master secret,
        where an unprovisioned device admitted by ``devices.auto_register`` has no key)."""
        self._store = store
        self._registry = registry
        self._commands = commands
        self._signer = signer
        self._device_keys = device_keys
        self._unsigned_when_keyless = unsigned_when_keyless
        self._timezone = timezone
        self._clock = clock
        self._snapshot: AccessSnapshot | None = None
        self._snapshot_lock = asyncio.Lock()

    # -- people and faces ---------------------------------------------------------------------

    async def save_person(self, person: Person, actor: str) -> tuple[Person, bool]:
        stored, created = await self._store.upsert_person(person, actor)
        await self._changed()
        return stored, created

    async def get_person(self, person_id: str) -> Person:
        person = await self._store.get_person(person_id)
        if person is None:
            raise NotFound(f"unknown person {person_id!r}",
                           code=ErrorCode.PERSON_UNKNOWN, person=person_id)
        return person

    async def list_persons(self, *, group: str | None = None, role: str | None = None,
                           limit: int = 100, offset: int = 0) -> list[Person]:
        return await self._store.list_persons(group=group, role=role, limit=limit, offset=offset)

    async def delete_person(self, person_id: str, actor: str) -> Person:
        """The person, their embeddings, and (by the refresh) their place in every gallery."""
        deleted = await self._store.delete_person(person_id, actor)
        if deleted is None:
            raise NotFound(f"unknown person {person_id!r}",
                           code=ErrorCode.PERSON_UNKNOWN, person=person_id)
        await self._changed()
        return deleted

    async def enrol_faces(self, person_id: str, photos: Sequence[bytes], actor: str) -> int:
        """Compute one embedding per photo (each must show exactly one clear, large enough
        face) and store them; the photos themselves are dropped here. Returns the person's
        face count. EnrolmentRefused names the first bad photo; nothing is stored then."""
        if not photos:
            raise InvalidAccessInput("photos: upload 1 to 10 photos")
        if len(photos) > MAX_FACES_PER_PERSON:
            raise InvalidAccessInput(f"photos: at most {MAX_FACES_PER_PERSON} per person")
        await self.get_person(person_id)  # NotFound before spending a second on dlib
        embeddings = await asyncio.to_thread(_embeddings_of, photos)
        count = await self._store.add_faces(person_id, embeddings, actor, MAX_FACES_PER_PERSON)
        await self._changed()
        return count

    async def knows_identity(self, identity_type: str, value: str) -> bool:
        """Whether a campus card read at a kiosk (or a person id) is one of our people's:
        ``TicketService``'s check for an unknown visitor."""
        snapshot = await self._current()
        if identity_type == "campus_card":
            return any(value in person.cards for person in snapshot.people)
        if identity_type == "person_id":
            return any(person.person_id == value for person in snapshot.people)
        return False

    async def clear_faces(self, person_id: str, actor: str) -> int:
        await self.get_person(person_id)
        deleted = await self._store.clear_faces(person_id, actor)
        await self._changed()
        return deleted

    async def ensure_roster(self, people: Sequence[Person],
                            rules: Sequence[tuple[str, str, str]], actor: str) -> int:
        """Make sure these people (as given) and rules (group, target, schedule) exist, for a
        prepared population such as ``hall demo``'s simulated one; returns how many were
        written. Devices are told once at the end, not per person."""
        known = {p.person_id: p for p in await self._store.list_persons(
            group=None, role=None, limit=len(people) + 100_000, offset=0)}
        written = 0
        for person in people:
            held = known.get(person.person_id)
            if held is None or (held.name, held.role, held.groups, held.cards) != (
                    person.name, person.role, person.groups, person.cards):
                await self._store.upsert_person(person, actor)
                written += 1
        present = {(r.group, r.target, r.schedule) for r in (await self._current()).rules}
        for rule in rules:
            if rule not in present:
                await self._store.add_rule(*rule, actor)
                written += 1
        if written:
            await self._changed()
        return written

    # -- rules ----------------------------------------------------------------------------------

    async def put_schedule(self, name: str, definition: object, actor: str) -> dict[str, Any]:
        try:
            schedule = schedule_from_wire(name, definition)
        except ValueError as exc:
            raise InvalidAccessInput(str(exc)) from None
        wire = schedule_to_wire(schedule)
        await self._store.put_schedule(name, wire, actor)
        await self._changed()
        return wire

    async def delete_schedule(self, name: str, actor: str) -> None:
        if not await self._store.delete_schedule(name, actor):
            raise NotFound(f"unknown schedule {name!r}",
                           code=ErrorCode.SCHEDULE_UNKNOWN, schedule=name)
        await self._changed()

    async def schedules(self) -> dict[str, dict[str, Any]]:
        snapshot = await self._current()
        return {n: schedule_to_wire(s) for n, s in snapshot.schedules.items()}

    async def add_rule(self, group: str, target: str, schedule: str, actor: str) -> AccessRule:
        if not GROUP.match(group):
            raise InvalidAccessInput("group: 1-64 letters, digits, '.', '_', ':' or '-'")
        if not TARGET.match(target):
            raise InvalidAccessInput("target: a device id or a pattern of one with * and ?")
        rule = await self._store.add_rule(group, target, schedule, actor)
        await self._changed()
        return rule

    async def delete_rule(self, rule_id: int, actor: str) -> None:
        if not await self._store.delete_rule(rule_id, actor):
            raise NotFound(f"unknown rule {rule_id}",
                           code=ErrorCode.RULE_UNKNOWN, rule=rule_id)
        await self._changed()

    async def rules(self) -> list[AccessRule]:
        return list((await self._current()).rules)

    async def put_holiday(self, day: dt.date, name: str, actor: str) -> None:
        await self._store.put_holiday(day, name, actor)
        await self._changed()

    async def delete_holiday(self, day: dt.date, actor: str) -> None:
        if not await self._store.delete_holiday(day, actor):
            raise NotFound(f"no holiday on {day.isoformat()}",
                           code=ErrorCode.HOLIDAY_UNKNOWN, day=day.isoformat())
        await self._changed()

    async def holidays(self) -> list[dt.date]:
        return sorted((await self._current()).holidays)

    # -- what a device holds ------------------------------------------------------------------

    async def policy_for(self, device_id: str) -> AccessPolicy:
        return compile_for_device(await self._current(), device_id, self._timezone)

    async def sync(self, device_id: str, device: DeviceRecord | None, params: dict[str, Any],
                   request_id: str) -> dict[str, Any]:
        """``access.sync`` handler: params ``{"have_version"?: n}`` → ``{"version",
        "changed": false}`` when the device is up to date, else ``{"version", "changed": true,
        "policy": {...}, "gallery": {"version", "people": [{"person_id", "embeddings"}]}}``
        (the gallery only for face gates: a lock has no camera); plus, with device keys, a
        ``signature`` block the device verifies before applying anything
        (``devices.policy_signing``)."""
        have = params.get("have_version")
        if have is not None and (not isinstance(have, int) or isinstance(have, bool)):
            raise RequestError("invalid_params", "params.have_version: expected an integer")
        if device is None or device.kind not in ACCESS_KINDS:
            raise RequestError("not_an_access_device",
                               f"{device_id} is not a face gate or door lock")
        key: bytes | None = None
        if self._device_keys is not None:
            key = self._device_keys(device_id)
            if key is None and not self._unsigned_when_keyless:
                # Never hand out an unsigned policy when policies are signed: the device
                # would refuse it anyway, and this says why.
                raise RequestError("no_device_key", f"{device_id} has no key to sign its policy")
        snapshot = await self._current()
        if have == snapshot.version:
            return await self._signed_reply({"version": snapshot.version, "changed": False},
                                            device_id, key)
        policy = compile_for_device(snapshot, device_id, self._timezone)
        result: dict[str, Any] = {"version": snapshot.version, "changed": True,
                                  "policy": policy.to_wire()}
        if device.kind is DeviceKind.FACE_GATE:
            embeddings = await self._store.embeddings_for(list(policy.people))
            result["gallery"] = {"version": snapshot.version, "people": [
                {"person_id": pid, "embeddings": [embedding_to_wire(e) for e in faces]}
                for pid, faces in embeddings.items()]}
        logger.info("access sync for %s: version %d, %d people", device_id, snapshot.version,
                    len(policy.people), extra={"device_id": device_id})
        return await self._signed_reply(result, device_id, key)

    async def _signed_reply(self, result: dict[str, Any], device_id: str,
                            key: bytes | None) -> dict[str, Any]:
        if key is None:
            return result
        # In a thread: the digest of a 10,000-person gallery (15 MB of JSON) takes ~0.7 s.
        return await asyncio.to_thread(sign_policy_reply, result, device_id, key,
                                       issued_at=self._clock())

    async def _current(self) -> AccessSnapshot:
        """The snapshot at the current version, re-read only when the version moved (another
        controller may have changed it)."""
        version = await self._store.access_version()
        async with self._snapshot_lock:
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = await self._store.snapshot()
            return self._snapshot

    async def _changed(self) -> None:
        """Tell every online gate and lock to sync now rather than at its next poll. A lost
        refresh only delays the change until that poll."""
        for device in self._registry.all():
            if device.online and device.kind in ACCESS_KINDS:
                try:
                    await self._commands.send(device.device_id, "access.refresh", {},
                                              "system:access", wait=False)
                except HallError as exc:
                    logger.warning("access refresh for %s not sent: %s", device.device_id, exc)

    # -- doors ----------------------------------------------------------------------------------

    def _door(self, device_id: str) -> DeviceRecord:
        device = self._registry.get(device_id)
        if device is None:
            raise NotFound(f"unknown device {device_id!r}",
                           code=ErrorCode.DEVICE_UNKNOWN, device=device_id)
        if device.kind not in ACCESS_KINDS:
            raise Conflict(f"{device_id} is a {device.kind.value}, not a door lock or gate",
                           code=ErrorCode.DEVICE_NOT_ACCESS, device=device_id, kind=device.kind.value)
        return device

    async def unlock(self, device_id: str, duration_s: float, actor: str, reason: str
                     ) -> CommandRecord:
        """A signed ``door.unlock`` with a short expiry; the lock checks signature, expiry
        and nonce, and its ack (or refusal code) lands in the command log and the audit."""
        self._door(device_id)
        if not 1.0 <= duration_s <= UNLOCK_MAX_S:
            raise InvalidAccessInput(f"duration_s: 1 to {UNLOCK_MAX_S:g} seconds")
        if not reason.strip():
            raise InvalidAccessInput("reason: say why the door is opened remotely (audited)")
        return await self._signed(device_id, "door.unlock",
                                  {"duration_s": duration_s, "reason": reason.strip()[:200]},
                                  actor)

    async def set_mode(self, device_id: str, mode: DoorMode, actor: str) -> CommandRecord | None:
        """Store the mode (devices get it with the next sync, also after being offline) and,
        if the device is online, tell it now with a signed ``door.set_mode``."""
        device = self._door(device_id)
        await self._store.set_mode(device_id, mode, actor)
        if not device.online:
            return None
        return await self._signed(device_id, "door.set_mode", {"mode": mode.value}, actor)

    async def _signed(self, device_id: str, method: str, params: dict[str, Any],
                      actor: str) -> CommandRecord:
        if self._signer is None:
            raise Conflict("no command signing key is configured (access.command_secret)",
                           code=ErrorCode.ACCESS_NO_SIGNING_KEY)
        return await self._commands.send(device_id, method, params, actor, ttl_s=SIGNED_COMMAND_TTL_S,
                                         timeout_s=SIGNED_COMMAND_TTL_S, signer=self._signer)

    # -- audit ----------------------------------------------------------------------------------

    async def audit(self, *, device_id: str | None = None, person_id: str | None = None,
                    category: AuditCategory | None = None, before_id: int | None = None,
                    limit: int = 100) -> list[AuditEntry]:
        return await self._store.audit(device_id=device_id, person_id=person_id,
                                       category=category, before_id=before_id,
                                       limit=max(1, min(limit, 1000)))


def _embeddings_of(photos: Sequence[bytes]) -> list[bytes]:
    """In a worker thread: dlib takes ~0.1-1 s per photo."""
    from devices.vision.faces import PhotoRejected, enrolment_embedding

    found: list[bytes] = []
    for n, photo in enumerate(photos, start=1):
        try:
            embedding = enrolment_embedding(photo)
        except PhotoRejected as exc:
            raise EnrolmentRefused(n, exc.code, exc.message) from None
        found.append(embedding.astype("<f4").tobytes())
    return found
