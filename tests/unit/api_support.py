"""Fakes and helpers for the API's unit tests (the real stack is the lead's end-to-end test)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher

from api import Authenticator, AuthSettings
from devices.contract import new_message_id, now_ms
from hall_controller.fleet.model import CommandRecord, CommandStatus
from hall_controller.fleet.ports import DeviceStore
from hall_controller.kernel.errors import DeviceOffline, NotFound

SECRET = "unit-test-signing-secret-0123456789abcdef"
# argon2 at its cheapest: the tests check behaviour, not hashing cost.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def authenticator(store: Any, *, ttl_s: int = 3600) -> Authenticator:
    return Authenticator(AuthSettings(secret=SECRET, token_ttl_s=ttl_s), store, hasher=FAST_HASHER)


@dataclass
class SentCommand:
    device_id: str
    method: str
    params: dict[str, object]
    requested_by: str
    wait: bool
    timeout_s: float | None


@dataclass
class FakeCommandSender:
    """Answers like the real CommandService: NotFound, DeviceOffline, or a finished record."""

    devices: DeviceStore
    outcome: CommandStatus = CommandStatus.SUCCEEDED
    sent: list[SentCommand] = field(default_factory=list)

    async def send(
        self, device_id: str, method: str, params: dict[str, object], requested_by: str,
        *, wait: bool = True, timeout_s: float | None = None, note: str | None = None,
    ) -> CommandRecord:
        device = await self.devices.get_device(device_id)
        if device is None:
            raise NotFound(f"unknown device {device_id!r}")
        if not device.online:
            raise DeviceOffline(f"device {device_id!r} is offline ({device.offline_reason})")
        self.sent.append(SentCommand(device_id, method, params, requested_by, wait, timeout_s))
        created = now_ms()
        status = self.outcome if wait else CommandStatus.SENT
        return CommandRecord(
            command_id=new_message_id(), device_id=device_id, method=method, params=dict(params),
            status=status, created_ms=created, expires_at_ms=created + 30_000,
            requested_by=requested_by, sent_ms=created, note=note,
            completed_ms=created + 5 if wait else None,
            result={"done": True} if status is CommandStatus.SUCCEEDED else None,
            error={"code": "jammed", "message": "bolt jammed"}
            if status is CommandStatus.FAILED else None,
        )


@dataclass
class FakeHealth:
    status: str = "ok"

    async def health(self) -> dict[str, object]:
        return {"status": self.status, "components": {"database": self.status == "ok"},
                "counters": {"telemetry_points": 7}}
