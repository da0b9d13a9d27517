"""A gate or lock refused the policy it was sent: someone must hear about it.

A device verifies every ``access.sync`` reply before applying it (``devices.policy_signing``)
and reports a refusal as an ``access.policy_refused`` event with a reason code: ``unsigned``,
``bad_signature`` or ``wrong_device`` (something other than this controller answered it),
``rollback`` or ``expired`` (an old reply replayed), ``no_key`` (the device was set up without
its key), ``malformed``. Whatever the reason, the device keeps deciding from an older policy,
so a change (a person removed) does not reach that door. The refusal goes into the access
audit (category ``door``, outcome ``refused``, the code as its reason) and raises
``access.policy_refused`` on the device, cleared by staff once it is understood.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.model import AlarmSeverity, DeviceEvent

logger = logging.getLogger(__name__)

POLICY_REFUSED = "access.policy_refused"
MAX_REASON_CHARS = 64


class PolicyRefusalAudit(Protocol):
    """Where a refusal is audited (``AccessStore`` has it)."""

    async def record_policy_refusal(self, event_id: str, device_id: str, ts_ms: int, *,
                                    reason: str, details: dict[str, Any]) -> None: ...


class PolicyRefusals:
    """An ingest event listener (``IngestPipeline.on_event``) for ``access.policy_refused``."""

    def __init__(self, audit: PolicyRefusalAudit, alarms: AlarmService) -> None:
        self._audit = audit
        self._alarms = alarms

    async def __call__(self, event: DeviceEvent) -> None:
        if event.type != POLICY_REFUSED:
            return
        # What the device says is data, not trusted: a reason code of bounded length.
        raw = event.data.get("reason")
        reason = raw[:MAX_REASON_CHARS] if isinstance(raw, str) and raw else "unknown"
        details: dict[str, Any] = {"event_id": event.event_id, "event_ts": event.ts_ms,
                                   **event.data, "reason": reason}
        logger.warning("%s refused its access policy: %s", event.device_id, reason,
                       extra={"device_id": event.device_id})
        await self._audit.record_policy_refusal(event.event_id, event.device_id, event.ts_ms,
                                                reason=reason, details=details)
        await self._alarms.raise_alarm(event.device_id, POLICY_REFUSED, AlarmSeverity.CRITICAL,
                                       details)
