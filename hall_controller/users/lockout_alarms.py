"""Login lockouts recorded as an alarm, where facilities staff and admins see them.

The alarms are the controller's one record that staff watch (the dashboard lists them live,
and they are acknowledged and cleared by name); the access audit is about doors and people, not
logins. So each lockout raises ``auth.lockout`` on the controller's alarm source: one active
alarm whose count grows with every lockout and whose details are the latest one (who, from
where, when, until when, after how many failures). Each lockout is also logged in full.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.ingest import CONTROLLER_ALARM_SOURCE
from hall_controller.fleet.model import AlarmSeverity
from hall_controller.users.rules import Lockout

LOCKOUT_ALARM = "auth.lockout"
# Typed usernames are whatever an attacker sends; the alarm keeps a readable prefix.
_MAX_SHOWN = 64


class LockoutAlarms:
    """The ``LockoutAudit`` of the users service, over the alarms."""

    def __init__(self, alarms: AlarmService) -> None:
        self._alarms = alarms

    async def lockout(self, lockout: Lockout) -> None:
        await self._alarms.raise_alarm(
            CONTROLLER_ALARM_SOURCE, LOCKOUT_ALARM, AlarmSeverity.MAJOR,
            {"locked": lockout.kind.value,
             "username": lockout.username[:_MAX_SHOWN],
             "client": lockout.address[:_MAX_SHOWN],
             "failures": lockout.failures,
             "lockout": lockout.nth,
             "locked_at": _iso(lockout.locked_at),
             "locked_until": _iso(lockout.locked_until),
             "locked_until_ms": round(lockout.locked_until * 1000)})


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
