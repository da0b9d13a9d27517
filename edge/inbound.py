"""What the controller sends an agent, sorted as it arrives, without waiting on anything.

Commands go into a queue the agent executes in order; a malformed command, or one refused as
busy, is answered through a queue of replies that a task of its own sends; a response wakes the
request waiting for it; a controller's birth asks for a re-announcement.  Sorting never awaits a
publish: the receiver must keep reading, or a lost connection would go unnoticed.
"""

from __future__ import annotations

import asyncio
import logging

from devices.contract import (
    MAX_PAYLOAD_BYTES,
    Channel,
    Command,
    ContractError,
    Response,
    Topics,
    error_response,
    parse_response,
)
from devices.json_decoding import decode_json
from edge.commands import CommandRunner, usable_id
from edge.stats import AgentStats

logger = logging.getLogger(__name__)

COMMAND_QUEUE_SIZE = 100


class InboundDispatcher:
    """Sorts the messages on one device's ``cmd`` and ``res`` topics and the controller state."""

    def __init__(self, device_id: str, topics: Topics, commands: CommandRunner, stats: AgentStats,
                 *, routine_log_level: int = logging.INFO) -> None:
        self._device_id = device_id
        self._topics = topics
        self._commands = commands
        self._stats = stats
        self._routine_log_level = routine_log_level
        self.command_topic = topics.device(device_id, Channel.CMD)
        self.response_topic = topics.device(device_id, Channel.RES)
        self.commands: asyncio.Queue[Command] = asyncio.Queue(COMMAND_QUEUE_SIZE)
        """Commands to execute, in arrival order."""
        self.replies: asyncio.Queue[Response] = asyncio.Queue(COMMAND_QUEUE_SIZE)
        """Acks the receiver answers itself (malformed or refused-as-busy commands), sent by a
        task of their own so the receiver never waits on a publish."""
        self.reannounce = asyncio.Event()
        """Set when a controller came online that may have missed our retained birth."""
        # The controller birth we last announced ourselves to: a retained birth delivered
        # again (after our reconnect, or twice by the broker) needs no second announcement.
        self._controller_birth: bytes | None = None
        self._pending: dict[str, asyncio.Future[Response]] = {}

    def expect_response(self, request_id: str) -> asyncio.Future[Response]:
        """A future the response to ``request_id`` will complete; ``forget`` it when done."""
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return future

    def forget(self, request_id: str) -> None:
        """Stop waiting for the response to ``request_id`` (answered or timed out)."""
        self._pending.pop(request_id, None)

    def dispatch(self, topic: str, payload: bytes) -> None:
        """Sort one message; a bug while handling it is logged and the message refused."""
        try:
            if topic == self.command_topic:
                self._on_command(payload)
            elif topic == self.response_topic:
                self._on_response(payload)
            elif topic == self._topics.controller_state:
                self._on_controller_state(payload)
        except Exception as exc:
            # The loop boundary: a bug while handling one message must not end the
            # receiver (and with it the connection, then the agent); the message is
            # answered as refused where it can be, and the next one goes on.
            self._stats.internal_errors += 1
            logger.exception("%s: message on %s hit a bug; refused", self._device_id, topic,
                             extra={"device_id": self._device_id})
            command_id = usable_id(payload) if topic == self.command_topic else None
            if command_id is not None:
                self.reply(error_response(command_id, "internal_error",
                                          f"the device failed on this command: "
                                          f"{type(exc).__name__}"))

    def reply(self, response: Response) -> None:
        """Queue an ack for the replies task; dropped (and counted) when too many wait."""
        try:
            self.replies.put_nowait(response)
        except asyncio.QueueFull:
            self._stats.acks_dropped += 1
            logger.warning("ack of command %s dropped: too many acks waiting", response.id,
                           extra={"device_id": self._device_id})

    def _on_command(self, payload: bytes) -> None:
        try:
            command = self._commands.parse(payload)
        except ContractError as exc:
            logger.warning("%s: malformed command ignored: %s", self._device_id, exc.reason,
                           extra={"device_id": self._device_id})
            command_id = usable_id(payload)
            if command_id is not None:
                self.reply(error_response(command_id, "invalid_command", exc.reason))
            return
        try:
            self.commands.put_nowait(command)
        except asyncio.QueueFull:
            self.reply(error_response(command.id, "busy", "too many commands queued"))

    def _on_response(self, payload: bytes) -> None:
        try:
            response = parse_response(decode_json(payload, MAX_PAYLOAD_BYTES), self._device_id)
        except ContractError as exc:
            self._stats.malformed_messages += 1
            logger.warning("%s: malformed response ignored: %s", self._device_id, exc.reason,
                           extra={"device_id": self._device_id})
            return
        future = self._pending.pop(response.id, None)
        if future is None or future.done():
            logger.debug("%s: response %s matches no waiting request (timed out?)",
                         self._device_id, response.id)
            return
        future.set_result(response)

    def _on_controller_state(self, payload: bytes) -> None:
        if not payload:
            return  # the retained state was cleared
        try:
            state = decode_json(payload, MAX_PAYLOAD_BYTES)
        except ContractError as exc:
            self._stats.malformed_messages += 1
            logger.warning("%s: malformed controller state ignored: %s", self._device_id,
                           exc.reason, extra={"device_id": self._device_id})
            return
        if not (isinstance(state, dict) and state.get("online") is True):
            return
        # A controller that (re)starts may have missed our retained birth; say it again, once
        # per controller birth (a birth carries the controller's session and time).
        if payload == self._controller_birth:
            logger.debug("%s: controller birth seen again; already announced to it",
                         self._device_id, extra={"device_id": self._device_id})
            return
        self._controller_birth = payload
        logger.log(self._routine_log_level,
                   "%s: controller online (session %s); re-announcing", self._device_id,
                   state.get("session"), extra={"device_id": self._device_id})
        self.reannounce.set()
