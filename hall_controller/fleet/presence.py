"""Presence rules: online from a birth, offline from a will or an inactivity timeout.

Pure functions over ``DeviceRecord``; the registry service applies them and persists the result.
A device's kind is pinned when it is first recorded: a later birth claiming another kind is
refused (``Change.KIND_MISMATCH``, the record unchanged), since a lock that re-births as a gate
would be handed a gate's policy and gallery. An admin who really replaces a device with one of
another kind deletes its record first.

Sessions: every agent connection has a session number, incremented by the agent.  A will whose
session is older than the last birth is stale (the device already reconnected) and is ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from devices.contract import Birth, Will
from devices.kinds import DeviceKind
from hall_controller.fleet.model import DeviceRecord

DEFAULT_INACTIVITY_TIMEOUT_S: Mapping[DeviceKind, float] = MappingProxyType({
    DeviceKind.KIOSK: 90.0, DeviceKind.FACE_GATE: 60.0, DeviceKind.DOOR_LOCK: 300.0,
    DeviceKind.QUEUE_DISPLAY: 90.0})
"""Silence after which a device of each kind counts as offline, unless the config says otherwise
(``controller.inactivity_timeout_s``)."""


class OfflineReason(StrEnum):
    WILL = "will"        # the broker published the last will, or the agent said goodbye
    TIMEOUT = "timeout"  # nothing heard for longer than the kind's inactivity timeout


class Change(StrEnum):
    NONE = "none"              # nothing a user would notice (maybe last_seen moved)
    WENT_ONLINE = "went_online"
    WENT_OFFLINE = "went_offline"
    IGNORED_STALE = "ignored_stale"
    KIND_MISMATCH = "kind_mismatch"  # a birth claiming another kind than the record's: refused


@dataclass(frozen=True, slots=True)
class Outcome:
    record: DeviceRecord
    change: Change
    registered: bool = False  # first time this device was seen
    claimed_kind: DeviceKind | None = None  # with KIND_MISMATCH: what the refused birth said


def kind_mismatch_reason(outcome: Outcome) -> str:
    """The dead-letter reason of a refused birth, naming both kinds."""
    return (f"kind_mismatch: {outcome.record.device_id} is recorded as {outcome.record.kind.value}, "
            f"the birth says {outcome.claimed_kind.value if outcome.claimed_kind else '?'}")


def apply_birth(record: DeviceRecord | None, device_id: str, birth: Birth, now_ms: int, *,
                provisioned_kind: DeviceKind | None = None) -> Outcome:
    """A birth registers the device (or refreshes its identity) and makes it online; one
    claiming another kind than the recorded one is refused and changes nothing.

    ``provisioned_kind``, the kind an admin provisioned the device as, outranks the record:
    a birth claiming another is refused even as the first one, and a record pinned by an
    earlier birth (before provisioning) takes the provisioned kind.
    """
    if provisioned_kind is not None:
        if birth.kind != provisioned_kind:
            shown = record or DeviceRecord(device_id=device_id, kind=provisioned_kind)
            return Outcome(dataclasses.replace(shown, kind=provisioned_kind),
                           Change.KIND_MISMATCH, claimed_kind=birth.kind)
        if record is not None and record.kind != provisioned_kind:
            record = dataclasses.replace(record, kind=provisioned_kind)
    if record is None:
        fresh = DeviceRecord(
            device_id=device_id, kind=birth.kind, model=birth.model, fw=birth.fw, site=birth.site,
            online=True, session=birth.session, first_seen_ms=now_ms, last_seen_ms=now_ms,
            online_since_ms=now_ms,
        )
        return Outcome(fresh, Change.WENT_ONLINE, registered=True)
    if birth.kind != record.kind:
        # Whatever its session or clock: identity is not something a device may change.
        return Outcome(record, Change.KIND_MISMATCH, claimed_kind=birth.kind)

    if birth.session == record.session and birth.ts <= record.last_seen_ms:
        # The retained birth replayed on (re)subscribe: the session we already know. It says
        # nothing new about presence, so an inactivity timeout already decided stays decided.
        return Outcome(record, Change.NONE)
    if birth.session < record.session and birth.ts <= record.last_seen_ms:
        return Outcome(record, Change.IGNORED_STALE)
    # A newer session, or a lower session number with a newer timestamp: the agent lost its
    # counter (e.g. a re-imaged host); trust the clock rather than lock the device out forever.
    updated = dataclasses.replace(
        record, model=birth.model, fw=birth.fw, site=birth.site or record.site,
        online=True, session=birth.session, last_seen_ms=max(now_ms, record.last_seen_ms),
        online_since_ms=record.online_since_ms if record.online else now_ms, offline_reason=None,
    )
    return Outcome(updated, Change.NONE if record.online else Change.WENT_ONLINE)


def apply_will(record: DeviceRecord | None, will: Will, now_ms: int) -> Outcome | None:
    """A will (or goodbye) makes the device offline unless it belongs to an older session.

    Returns None for a device never registered: there is nothing to take offline.
    """
    if record is None:
        return None
    if will.session < record.session:
        return Outcome(record, Change.IGNORED_STALE)
    if not record.online:
        return Outcome(record, Change.NONE)
    updated = dataclasses.replace(
        record, online=False, online_since_ms=None, offline_reason=OfflineReason.WILL.value,
        last_seen_ms=max(record.last_seen_ms, now_ms),
    )
    return Outcome(updated, Change.WENT_OFFLINE)


def apply_activity(record: DeviceRecord, now_ms: int) -> Outcome:
    """Telemetry, an event, a request or an ack: the device is alive.

    A device that timed out comes back online on activity; one whose will was published stays
    offline until its next birth (its session ended; anything later is a late delivery).
    """
    revived = not record.online and record.offline_reason == OfflineReason.TIMEOUT.value
    updated = dataclasses.replace(record, last_seen_ms=max(record.last_seen_ms, now_ms))
    if revived:
        updated.online = True
        updated.online_since_ms = now_ms
        updated.offline_reason = None
        return Outcome(updated, Change.WENT_ONLINE)
    return Outcome(updated, Change.NONE)


def apply_timeout(record: DeviceRecord, now_ms: int, timeout_s: float) -> Outcome:
    """Offline once nothing was heard for longer than ``timeout_s``."""
    if record.online and now_ms - record.last_seen_ms > timeout_s * 1000:
        updated = dataclasses.replace(
            record, online=False, online_since_ms=None, offline_reason=OfflineReason.TIMEOUT.value)
        return Outcome(updated, Change.WENT_OFFLINE)
    return Outcome(record, Change.NONE)
