"""The controller's second opinion on every grant a gate or lock reports.

Gates and locks decide alone, from the policy they synced; the controller compiled that policy,
so it can tell a grant it contains from one it does not. A grant it does not contain (a person
no rule lets in at that device at that time, an unknown card) was forged by something that can
publish as the device, or the device ignores its policy. Either way it is recorded as a
``suspicious`` decision in the access audit and raises ``access.suspicious_grant`` on the
device. The door was already open: this makes sure a person hears about it.

The policy compared against is the controller's current one, at the event's time. A device
that has not yet synced a change (an admin removed someone a moment ago) can therefore raise
the alarm for a grant it made in good faith; staff see the reason and the person in it.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from devices.access_rules import AccessPolicy
from hall_controller.access.rules import grant_doubt
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.model import AlarmSeverity, DeviceEvent

logger = logging.getLogger(__name__)

SUSPICIOUS_GRANT = "access.suspicious_grant"


class DevicePolicies(Protocol):
    """The policy the controller compiles for a device (``AccessService`` has it)."""

    async def policy_for(self, device_id: str) -> AccessPolicy: ...


class SuspiciousDecisions(Protocol):
    """Where a suspicious decision is audited (``AccessStore`` has it)."""

    async def record_suspicious_decision(self, event_id: str, device_id: str, ts_ms: int, *,
                                         method: str, person_id: str | None, reason: str,
                                         details: dict[str, Any]) -> None: ...


class GrantCheck:
    """An ingest event listener (``IngestPipeline.on_event``) for ``access.granted``."""

    def __init__(self, access: DevicePolicies, audit: SuspiciousDecisions,
                 alarms: AlarmService) -> None:
        self._access = access
        self._audit = audit
        self._alarms = alarms

    async def __call__(self, event: DeviceEvent) -> None:
        if event.type != "access.granted":
            return
        # Any device is checked, not only gates and locks: a kiosk has no rules, so a grant
        # it claims is unknown_person, which is what it is.
        policy = await self._access.policy_for(event.device_id)
        doubt = grant_doubt(policy, event.data, event.ts_ms)
        if doubt is None:
            return
        person_id = event.data.get("person_id")
        person = person_id if isinstance(person_id, str) else None
        method = event.data.get("method")
        details: dict[str, Any] = {
            "event_id": event.event_id, "event_ts": event.ts_ms, "person_id": person,
            "method": method, "reason": doubt, "device_reason": event.data.get("reason"),
            "policy_version": policy.version}
        if method == "card" and isinstance(event.data.get("credential"), str):
            details["card"] = event.data["credential"]
        logger.warning("suspicious grant from %s: %s for %r (event %s)", event.device_id, doubt,
                       person, event.event_id, extra={"device_id": event.device_id})
        await self._audit.record_suspicious_decision(
            event.event_id, event.device_id, event.ts_ms,
            method=method if isinstance(method, str) else "unknown", person_id=person,
            reason=doubt, details=details)
        await self._alarms.raise_alarm(event.device_id, SUSPICIOUS_GRANT, AlarmSeverity.CRITICAL,
                                       details)
