"""Commands to devices: stored, published on ``cmd``, followed to their ``cmd/ack``.

Every command is in the store before it is published, so history survives restarts and a
late ack (after the caller stopped waiting) still lands on the right record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from devices.contract import Channel, Command, Response, Topics, encode, new_message_id, now_ms
from hall_controller.fleet.model import CommandRecord, CommandStatus
from hall_controller.fleet.ports import CommandStore
from hall_controller.fleet.registry import DeviceRegistry
from hall_controller.kernel.bus import Publisher
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import DeviceOffline, HallError, NotFound

logger = logging.getLogger(__name__)

FINAL = frozenset({CommandStatus.SUCCEEDED, CommandStatus.FAILED, CommandStatus.TIMED_OUT,
                   CommandStatus.EXPIRED})


class CommandService:
    """Implements the ``CommandSender`` port."""

    def __init__(self, store: CommandStore, publisher: Publisher, registry: DeviceRegistry,
                 topics: Topics, *, default_timeout_s: float, ttl_s: float) -> None:
        self._store = store
        self._publisher = publisher
        self._registry = registry
        self._topics = topics
        self._default_timeout_s = default_timeout_s
        self._ttl_s = ttl_s
        self._waiting: dict[str, asyncio.Future[CommandRecord]] = {}

    async def send(
        self, device_id: str, method: str, params: dict[str, object], requested_by: str,
        *, wait: bool = True, timeout_s: float | None = None, ttl_s: float | None = None,
        signer: Callable[[Command, str], Command] | None = None, note: str | None = None,
    ) -> CommandRecord:
        """``ttl_s`` overrides the configured time to live (signed door commands must expire
        within 10 s); ``signer`` adds the nonce and signature a lock checks; ``note`` is why a
        person sent it (kept in the history, never sent to the device)."""
        device = self._registry.get(device_id)
        if device is None:
            raise NotFound(f"unknown device {device_id!r}",
                           code=ErrorCode.DEVICE_UNKNOWN, device=device_id)
        if not device.online:
            raise DeviceOffline(f"device {device_id!r} is offline ({device.offline_reason})",
                                device=device_id)
        timeout_s = self._default_timeout_s if timeout_s is None else timeout_s
        created = now_ms()
        # The device refuses the command after expires_at, so a command stuck in a queue
        # somewhere cannot fire minutes later.
        ttl = max(self._ttl_s, timeout_s) if ttl_s is None else ttl_s
        expires_at = created + int(ttl * 1000)
        record = CommandRecord(
            command_id=new_message_id(), device_id=device_id, method=method, params=dict(params),
            status=CommandStatus.PENDING, created_ms=created, expires_at_ms=expires_at,
            requested_by=requested_by, note=note,
        )
        message = Command(id=record.command_id, method=method, params=dict(params),
                          expires_at=expires_at)
        # Signed before it is stored: a device without a key (Conflict) leaves no command
        # pending forever in the history.
        if signer is not None:
            message = signer(message, device_id)
        await self._store.insert_command(record)
        future: asyncio.Future[CommandRecord] = asyncio.get_running_loop().create_future()
        self._waiting[record.command_id] = future
        try:
            try:
                await self._publisher.publish(self._topics.device(device_id, Channel.CMD),
                                              encode(message))
            except HallError as exc:
                record.status = CommandStatus.FAILED
                record.completed_ms = now_ms()
                record.error = {"code": "not_sent", "message": str(exc)}
                await self._store.update_command(record)
                return record
            record.status = CommandStatus.SENT
            record.sent_ms = now_ms()
            if not future.done():
                await self._store.update_command(record)
            if not wait:
                return record
            try:
                return await asyncio.wait_for(asyncio.shield(future), timeout_s)
            except TimeoutError:
                return await self._time_out(record.command_id)
        finally:
            if wait:
                self._waiting.pop(record.command_id, None)

    async def _time_out(self, command_id: str) -> CommandRecord:
        # Another controller may have received the ack (shared subscriptions): ask the store.
        stored = await self._store.get_command(command_id)
        if stored is None:
            raise NotFound(f"command {command_id} vanished from the store",
                           code=ErrorCode.COMMAND_UNKNOWN, command=command_id)
        if stored.status in FINAL:
            return stored
        stored.status = CommandStatus.TIMED_OUT
        stored.completed_ms = now_ms()
        await self._store.update_command(stored)
        return stored

    async def on_ack(self, device_id: str, ack: Response) -> None:
        """A ``cmd/ack`` arrived. Only the device the command was sent to may answer it."""
        record = await self._store.get_command(ack.id)
        if record is None:
            logger.warning("ack for unknown command %s from %s", ack.id, device_id,
                           extra={"device_id": device_id})
            return
        if record.device_id != device_id:
            logger.warning("device %s acked command %s that was sent to %s; ignored",
                           device_id, ack.id, record.device_id, extra={"device_id": device_id})
            return
        if record.status in (CommandStatus.SUCCEEDED, CommandStatus.FAILED):
            return  # a redelivered ack
        updated = dataclasses.replace(
            record, status=CommandStatus.SUCCEEDED if ack.ok else CommandStatus.FAILED,
            completed_ms=now_ms(), result=ack.result if ack.ok else None,
            error=ack.error.model_dump() if ack.error is not None else None,
        )
        await self._store.update_command(updated)
        future = self._waiting.pop(ack.id, None)
        if future is not None and not future.done():
            future.set_result(updated)

    def forget_waiting(self) -> None:
        """Fail the callers still waiting (the controller is stopping)."""
        for future in self._waiting.values():
            if not future.done():
                future.cancel()
        self._waiting.clear()
