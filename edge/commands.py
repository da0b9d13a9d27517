"""Command handling without MQTT: parse, refuse expired, answer duplicates, verify signatures,
call the driver."""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from devices.contract import (
    MAX_PAYLOAD_BYTES,
    Command,
    ContractError,
    Response,
    error_response,
    now_ms,
    ok_response,
    parse_command,
)
from devices.json_decoding import decode_json
from devices.signing import CommandRejected, CommandVerifier
from edge.driver import DeviceDriver
from edge.errors import CommandRefused

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class CommandStats:
    """What happened to the commands this agent received."""

    executed: int = 0
    refused: int = 0
    expired: int = 0
    duplicates: int = 0
    malformed: int = 0
    failed: int = 0
    rejected_signed: int = 0
    """Signed-method commands refused as unsigned, forged, stale or replayed."""


def usable_id(payload: bytes) -> str | None:
    """The ``id`` of a malformed command, if it has one we can answer to."""
    try:
        obj: Any = decode_json(payload, MAX_PAYLOAD_BYTES)
    except ContractError:
        return None
    cid = obj.get("id") if isinstance(obj, dict) else None
    return cid if isinstance(cid, str) and 0 < len(cid) <= 64 else None


class CommandRunner:
    """Turns commands into acks, executing each command id at most once.

    The controller may send a command again (a retry after a lost ack, or a broker
    redelivery); the cached ack of the first execution answers it, so a door never unlocks
    twice for one command.

    Methods in ``signed_methods`` run only if ``verifier`` accepts the command (signature,
    expiry window, unused nonce); without a verifier they are always refused (``no_key``).
    A refusal by the verifier is not cached under the command id: a forged command must not be
    able to claim the id of a genuine one still on its way.
    """

    def __init__(self, driver: DeviceDriver, device_id: str, cache_size: int = 256, *,
                 verifier: CommandVerifier | None = None,
                 signed_methods: frozenset[str] = frozenset(),
                 on_rejected: Callable[[Command, CommandRejected], Awaitable[None]] | None = None
                 ) -> None:
        """``on_rejected`` hears every signed command refused (the agent reports it as an
        ``access.denied`` event, so a forged or replayed unlock is audited even though the
        controller never sent it)."""
        self._driver = driver
        self._on_rejected = on_rejected
        self._device_id = device_id
        self._cache_size = cache_size
        self._verifier = verifier
        self._signed_methods = signed_methods
        self._recent: collections.OrderedDict[str, Response] = collections.OrderedDict()
        self.stats = CommandStats()

    def parse(self, payload: bytes) -> Command:
        """Parse a ``cmd`` payload; raises ContractError (and counts it) if it is malformed."""
        try:
            return parse_command(decode_json(payload, MAX_PAYLOAD_BYTES))
        except ContractError:
            self.stats.malformed += 1
            raise

    async def execute(self, command: Command) -> Response:
        """Run one command and return its ack; never raises for a driver failure."""
        cached = self._recent.get(command.id)
        if cached is not None:
            self.stats.duplicates += 1
            logger.info("command %s (%s) seen before; answering with the cached ack",
                        command.id, command.method, extra={"device_id": self._device_id})
            return cached
        try:
            self._check_signature(command)
        except CommandRejected as exc:
            self.stats.rejected_signed += 1
            logger.warning("signed command %s (%s) refused: %s", command.id, command.method, exc,
                           extra={"device_id": self._device_id})
            if self._on_rejected is not None:
                await self._on_rejected(command, exc)
            return error_response(command.id, exc.code, exc.message)
        response = await self._run(command)
        self._recent[command.id] = response
        while len(self._recent) > self._cache_size:
            self._recent.popitem(last=False)
        return response

    def _check_signature(self, command: Command) -> None:
        if command.method not in self._signed_methods:
            return
        if self._verifier is None:
            raise CommandRejected("no_key", f"{command.method} must be signed and this device has "
                                            "no command key configured")
        self._verifier.verify(command)

    async def _run(self, command: Command) -> Response:
        now = now_ms()
        if command.expires_at < now:
            self.stats.expired += 1
            logger.info("command %s (%s) expired %d ms ago; refused", command.id, command.method,
                        now - command.expires_at, extra={"device_id": self._device_id})
            return error_response(command.id, "expired",
                                  f"the command expired at {command.expires_at}, now is {now}")
        try:
            result = await self._driver.handle_command(command.method, command.params)
        except CommandRefused as exc:
            self.stats.refused += 1
            logger.info("command %s (%s) refused: %s", command.id, command.method, exc,
                        extra={"device_id": self._device_id})
            return error_response(command.id, exc.code, exc.message)
        except Exception:
            # A driver bug must not take the agent down; the controller sees a failed ack.
            self.stats.failed += 1
            logger.exception("command %s (%s) failed in the driver", command.id, command.method,
                             extra={"device_id": self._device_id})
            return error_response(command.id, "internal_error", "the device failed to execute it")
        self.stats.executed += 1
        return ok_response(command.id, result)
