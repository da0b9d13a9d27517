"""The edge agent: one device's MQTT session, outbox, commands and requests.

Tasks, all named and owned by the agent's ``TaskGroup``:

- ``telemetry``: samples the driver every interval into the outbox (also while offline);
- ``driver``: the driver's own loop, which emits events into the outbox;
- ``commands``: executes received commands one at a time, in arrival order, and acks them;
- ``mqtt``: connects, announces, and per connection runs ``receive``, ``drain``, ``replies``
  and ``reannounce``; reconnects with jittered exponential backoff when the connection is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiomqtt

from devices.contract import (
    MAX_PAYLOAD_BYTES,
    MAX_TELEMETRY_VALUES,
    Birth,
    Channel,
    Command,
    ContractError,
    Response,
    Topics,
    Will,
    encode,
    error_response,
    new_message_id,
    now_ms,
    parse_event,
    parse_request,
    parse_response,
    parse_telemetry,
)
from devices.json_decoding import decode_json
from devices.signing import CommandRejected, CommandVerifier, NonceCache
from edge.backoff import Backoff
from edge.commands import CommandRunner, CommandStats, usable_id
from edge.driver import DeviceDriver, TelemetryScalar
from edge.errors import EdgeError, OutboxError, RequestTimeout
from edge.outbox import MemoryOutbox, Outbox, RecordKind, SqliteOutbox
from edge.session_counter import SessionCounter
from edge.settings import AgentSettings

logger = logging.getLogger(__name__)

# Messages published before waiting for their PUBACKs: enough to keep the link busy, and under
# aiomqtt's "pending calls" warning threshold (10) and paho's in-flight window (20).
PUBLISH_WINDOW = 10
COMMAND_QUEUE_SIZE = 100
# A connection that stayed up this long resets the backoff; one that drops at once (a client
# id taken over by a twin, a broker refusing us) keeps backing off instead of flapping.
STABLE_CONNECTION_S = 10.0
# The agent's own telemetry value: samples dropped because the outbox was full, since start.
TELEMETRY_SHED_METRIC = "agent.telemetry_shed"


@dataclass(slots=True)
class AgentStats:
    """Counters for the facilities dashboard and for tests."""

    connects: int = 0
    connection_losses: int = 0
    telemetry_sampled: int = 0
    events_emitted: int = 0
    messages_published: int = 0
    records_delivered: int = 0
    announcements: int = 0
    malformed_messages: int = 0
    internal_errors: int = 0  # messages that hit a bug here (refused, and the agent went on)
    acks_dropped: int = 0
    commands: CommandStats = field(default_factory=CommandStats)


class EdgeAgent:
    """One device's agent.  Use ``async with EdgeAgent(...) as agent`` or ``await agent.run()``.

    ``outbox`` overrides the one the settings call for (the caller then owns it); by default
    the agent opens a ``SqliteOutbox`` in ``settings.data_dir`` (or a ``MemoryOutbox`` when
    ``settings.durable`` is false) and closes it when it stops.
    """

    def __init__(
        self, settings: AgentSettings, driver: DeviceDriver, *, outbox: Outbox | None = None
    ) -> None:
        self._settings = settings
        self._driver = driver
        self._given_outbox = outbox
        self._outbox: Outbox | None = outbox
        self._topics = Topics(settings.topic_prefix)
        self._broker = settings.broker
        session_file = settings.data_dir / "session" if settings.data_dir is not None else None
        self._sessions = SessionCounter(session_file)
        self._commands = CommandRunner(driver, settings.device_id, settings.command_cache_size,
                                       verifier=_command_verifier(settings),
                                       signed_methods=settings.methods_requiring_signature,
                                       on_rejected=self._report_rejected)
        self._command_queue: asyncio.Queue[Command] = asyncio.Queue(COMMAND_QUEUE_SIZE)
        # Acks the receiver answers itself (malformed or refused-as-busy commands), sent by a
        # task of their own so the receiver never waits on a publish.
        self._replies: asyncio.Queue[Response] = asyncio.Queue(COMMAND_QUEUE_SIZE)
        self._reannounce = asyncio.Event()
        # The controller birth we last announced ourselves to: a retained birth delivered
        # again (after our reconnect, or twice by the broker) needs no second announcement.
        self._controller_birth: bytes | None = None
        self._pending: dict[str, asyncio.Future[Response]] = {}
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._lifetime_stack: contextlib.AsyncExitStack | None = None
        self._running = False
        # Seeded by device id: a fleet spreads out, and one device's timing is reproducible.
        self._rng = random.Random(settings.device_id)  # jitter, not secrets
        self.stats = AgentStats(commands=self._commands.stats)

    # --- public API ---------------------------------------------------------------------------

    @property
    def settings(self) -> AgentSettings:
        """The settings the agent was built with."""
        return self._settings

    @property
    def driver(self) -> DeviceDriver:
        """The driver the agent was built with."""
        return self._driver

    @property
    def device_id(self) -> str:
        """The device id this agent speaks for (also its MQTT client id)."""
        return self._settings.device_id

    @property
    def session(self) -> int:
        """The session number of the current (or last) connection attempt."""
        return self._sessions.current

    @property
    def is_connected(self) -> bool:
        """Whether the agent has announced itself on a live broker connection."""
        return self._connected.is_set()

    @property
    def outbox(self) -> Outbox:
        """The outbox in use; only while the agent runs (or when one was given)."""
        if self._outbox is None:
            raise EdgeError(f"agent {self.device_id} is not running: it has no outbox yet")
        return self._outbox

    @property
    def telemetry_shed(self) -> int:
        """Telemetry samples dropped because the outbox was full."""
        return self._outbox.telemetry_shed if self._outbox is not None else 0

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Wait until the agent is connected and announced; raises TimeoutError."""
        async with asyncio.timeout(timeout_s):
            await self._connected.wait()

    async def emit_event(self, type: str, data: Mapping[str, Any] | None = None) -> str:
        """Queue an event (``type`` is a dotted name); returns its id.

        The event is on disk (durable outbox) when this returns, and is delivered at least
        once, in order, whenever the broker is reachable.  Raises ContractError for an invalid
        type or data that is not JSON.
        """
        outbox = self.outbox
        event = parse_event({"id": new_message_id(), "ts": now_ms(), "type": type,
                             "data": dict(data or {})}, self.device_id)
        try:
            payload = encode(event).decode()
        except ValueError as exc:  # pydantic's serialisation error is a ValueError
            raise ContractError(f"event data is not JSON: {exc}") from None
        await outbox.put(RecordKind.EVENT, payload)
        self.stats.events_emitted += 1
        return str(event.id)

    async def request(
        self, method: str, params: Mapping[str, Any] | None = None, timeout_s: float = 10.0
    ) -> Response:
        """Publish a request on ``req`` and wait for its response on ``res``.

        Waits for a connection if there is none, all within ``timeout_s``; raises
        ``RequestTimeout``.  An ``ok: false`` response is returned, not raised.
        """
        req = parse_request({"id": new_message_id(), "method": method,
                             "params": dict(params or {})}, self.device_id)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[req.id] = future
        try:
            async with asyncio.timeout(timeout_s):
                await self._publish_when_connected(
                    self._topics.device(self.device_id, Channel.REQ), encode(req))
                return await future
        except TimeoutError:
            raise RequestTimeout(f"no response to {method} ({req.id}) in {timeout_s} s") from None
        finally:
            self._pending.pop(req.id, None)

    def stop(self) -> None:
        """Ask the agent to stop: flush briefly, publish the offline state, disconnect."""
        self._stop.set()

    async def __aenter__(self) -> Self:
        """Open the outbox (so ``emit_event`` works at once) and start the agent's tasks."""
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(self._lifetime())
        self._lifetime_stack = stack
        self._runner = asyncio.create_task(self._run_tasks(), name=f"edge:{self.device_id}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop cleanly (flush, offline state, disconnect) and close the outbox."""
        self.stop()
        runner, self._runner = self._runner, None
        stack, self._lifetime_stack = self._lifetime_stack, None
        try:
            if runner is not None:
                await runner
        finally:
            if stack is not None:
                await stack.aclose()

    async def run(self) -> None:
        """Run until ``stop()`` (clean goodbye) or cancellation (best-effort goodbye)."""
        async with self._lifetime():
            await self._run_tasks()

    @contextlib.asynccontextmanager
    async def _lifetime(self) -> AsyncIterator[None]:
        if self._running:
            raise EdgeError(f"agent {self.device_id} is already running")
        self._running = True
        try:
            if self._given_outbox is not None:
                yield
            else:
                async with self._open_outbox() as outbox:
                    self._outbox = outbox
                    yield
        finally:
            self._running = False
            self._stop.clear()  # so the agent can run again
            if self._given_outbox is None:
                self._outbox = None

    # --- tasks --------------------------------------------------------------------------------

    def _open_outbox(self) -> SqliteOutbox | MemoryOutbox:
        s = self._settings
        if s.durable and s.data_dir is not None:
            return SqliteOutbox(s.data_dir / "outbox.sqlite3", max_rows=s.outbox_max_rows)
        return MemoryOutbox(max_rows=s.outbox_max_rows)

    async def _run_tasks(self) -> None:
        name = f"edge:{self.device_id}"
        async with asyncio.TaskGroup() as tg:
            helpers = [
                tg.create_task(self._sample_telemetry(), name=f"{name}:telemetry"),
                tg.create_task(self._run_driver(), name=f"{name}:driver"),
                tg.create_task(self._execute_commands(), name=f"{name}:commands"),
            ]
            # The connection loop returns only after stop(); then the helpers go too.
            await tg.create_task(self._stay_connected(), name=f"{name}:mqtt")
            for task in helpers:
                task.cancel()

    async def _sample_telemetry(self) -> None:
        interval = self._settings.telemetry_interval_s
        loop = asyncio.get_running_loop()
        # A random phase, so a fleet started together does not publish in lockstep.
        await asyncio.sleep(self._rng.uniform(0, min(interval, 5.0)))
        next_at = loop.time()
        while True:
            await self._sample_once()
            next_at += interval
            if next_at < loop.time():  # fell behind (a suspended host): skip, do not burst
                next_at = loop.time() + interval
            await asyncio.sleep(next_at - loop.time())

    async def _sample_once(self) -> None:
        try:
            values = _finite(self._driver.read_telemetry())
            if not values:
                return
            if len(values) < MAX_TELEMETRY_VALUES or TELEMETRY_SHED_METRIC in values:
                # Always sent, 0 included: the device's latest values then say "nothing lost
                # since the agent started" instead of keeping a stale count from before.
                values[TELEMETRY_SHED_METRIC] = self.telemetry_shed
            sample = parse_telemetry({"ts": now_ms(), "values": values}, self.device_id)[0]
            await self.outbox.put(RecordKind.TELEMETRY, encode(sample).decode())
            self.stats.telemetry_sampled += 1
        except ContractError as exc:
            logger.warning("driver telemetry of %s refused: %s", self.device_id, exc.reason,
                           extra={"device_id": self.device_id})
        except OutboxError:
            logger.exception("telemetry of %s not queued", self.device_id,
                             extra={"device_id": self.device_id})
        except Exception:
            logger.exception("driver of %s failed to read telemetry", self.device_id,
                             extra={"device_id": self.device_id})

    async def _run_driver(self) -> None:
        backoff = Backoff(1.0, 60.0, self._rng)
        while True:
            try:
                await self._driver.run(self)
                return  # the driver has nothing more to do; commands and telemetry go on
            except Exception:
                logger.exception("driver of %s crashed; restarting it", self.device_id,
                                 extra={"device_id": self.device_id})
            await asyncio.sleep(backoff.next_delay())

    async def _report_rejected(self, command: Command, rejection: CommandRejected) -> None:
        await self.emit_event("access.denied", {
            "method": "remote", "reason": rejection.code, "command": command.method,
            "command_id": command.id[:64]})

    async def _execute_commands(self) -> None:
        # One at a time, in arrival order: a display shows calls in the order they were made.
        while True:
            command = await self._command_queue.get()
            try:
                response = await self._commands.execute(command)
            except Exception as exc:
                # execute() answers every failure it knows of; this is a bug, and the loop
                # boundary: refuse this command and go on with the next.
                self.stats.internal_errors += 1
                logger.exception("%s: command %s (%s) hit a bug", self.device_id, command.id,
                                 command.method, extra={"device_id": self.device_id})
                response = error_response(command.id, "internal_error",
                                          f"the device failed on this command: {type(exc).__name__}")
            await self._send_ack(response)

    async def _send_ack(self, response: Response) -> None:
        client = self._client
        if client is None:
            # The controller times the command out; a retry with the same id gets the cached ack.
            self.stats.acks_dropped += 1
            logger.warning("ack of command %s dropped: not connected", response.id,
                           extra={"device_id": self.device_id})
            return
        topic = self._topics.device(self.device_id, Channel.CMD_ACK)
        try:
            await client.publish(topic, encode(response), qos=1)
        except aiomqtt.MqttError as exc:
            self.stats.acks_dropped += 1
            logger.warning("ack of command %s dropped: %s", response.id, exc,
                           extra={"device_id": self.device_id})

    # --- the connection -----------------------------------------------------------------------

    async def _stay_connected(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff(self._settings.reconnect_min_s, self._settings.reconnect_max_s, self._rng)
        while not self._stop.is_set():
            session = self._sessions.next()
            started = loop.time()
            lost: BaseException | None = None
            try:
                await self._connect_and_serve(session)
            except* (aiomqtt.MqttError, OSError) as group:
                lost = _first_leaf(group)
            self._connected.clear()
            self._client = None
            if self._stop.is_set():
                break
            if self.stats.connects and loop.time() - started >= STABLE_CONNECTION_S:
                backoff.reset()
            delay = backoff.next_delay()
            logger.warning("%s: broker connection lost or refused (%s); retrying in %.1f s",
                           self.device_id, lost, delay, extra={"device_id": self.device_id})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()

    def _make_client(self, session: int) -> aiomqtt.Client:
        b = self._broker
        will = Will(online=False, session=session)
        return aiomqtt.Client(
            b.host,
            b.port,
            username=self._settings.mqtt_username,
            password=b.password,
            identifier=self.device_id,
            # A persistent session: commands sent while we were away wait for us (and are
            # then refused if they expired meanwhile).
            clean_session=False,
            will=aiomqtt.Will(self._state_topic, encode(will), qos=1, retain=True),
            keepalive=self._settings.keepalive_s,
            timeout=self._settings.mqtt_timeout_s,
        )

    async def _connect_and_serve(self, session: int) -> None:
        async with self._make_client(session) as client:
            self.stats.connects += 1
            try:
                await self._serve(client, session)
            except asyncio.CancelledError:
                await self._goodbye(client, session, flush=False)
                raise
            except BaseException:
                self.stats.connection_losses += 1
                raise

    async def _serve(self, client: aiomqtt.Client, session: int) -> None:
        """One connection: announce, subscribe, work until stop(), then say goodbye."""
        # Acks may go out at once: commands queued for us while we were away arrive right
        # after the CONNACK, before our own subscribe.
        self._client = client
        self._reannounce.clear()  # the birth below answers any controller seen meanwhile
        name = f"edge:{self.device_id}"
        async with asyncio.TaskGroup() as tg:
            # The receiver starts first and never waits on a publish: sitting in
            # client.messages is what notices a lost connection at once (a PUBACK or SUBACK
            # still awaited would only time out after mqtt_timeout_s), and it retrieves the
            # error aiomqtt keeps for the disconnect, which asyncio would otherwise log as
            # "Future exception was never retrieved".  Its failure cancels everything below.
            receiver = tg.create_task(self._receive(client), name=f"{name}:receive")
            await self._announce(client, session)
            await client.subscribe([
                (self._topics.device(self.device_id, Channel.CMD), 1),
                (self._topics.device(self.device_id, Channel.RES), 1),
                (self._topics.controller_state, 1),
            ])
            self._connected.set()
            logger.log(self._settings.routine_log_level, "%s connected to %s:%d (session %d)",
                       self.device_id, self._broker.host, self._broker.port, session,
                       extra={"device_id": self.device_id})
            helpers = [
                tg.create_task(self._send_replies(), name=f"{name}:replies"),
                tg.create_task(self._reannounce_on_request(client, session),
                               name=f"{name}:reannounce"),
            ]
            drain = tg.create_task(self._drain(client), name=f"{name}:drain")
            await self._stop.wait()
            # The drain finishes the batch in flight and returns by itself after stop(), so a
            # clean stop does not leave a published-but-undeleted batch to be sent twice.
            await drain
            for task in helpers:
                task.cancel()
            await self._goodbye(client, session, flush=True)  # still watched by the receiver
            receiver.cancel()

    @property
    def _state_topic(self) -> str:
        return self._topics.device(self.device_id, Channel.STATE)

    async def _announce(self, client: aiomqtt.Client, session: int) -> None:
        s = self._settings
        birth = Birth(online=True, session=session, kind=s.kind, model=s.model, fw=s.fw,
                      site=s.site, ts=now_ms())
        await client.publish(self._state_topic, encode(birth), qos=1, retain=True)
        self.stats.announcements += 1

    async def _goodbye(self, client: aiomqtt.Client, session: int, *, flush: bool) -> None:
        """Best effort: flush what the outbox holds, then say offline ourselves (no will)."""
        self._connected.clear()
        self._client = None
        with contextlib.suppress(aiomqtt.MqttError, OSError, OutboxError, TimeoutError):
            if flush:
                async with asyncio.timeout(self._settings.shutdown_flush_s):
                    while self.outbox.size:
                        await self._publish_batch(client)
            offline = Will(online=False, session=session, ts=now_ms())
            await client.publish(self._state_topic, encode(offline), qos=1, retain=True,
                                 timeout=self._settings.mqtt_timeout_s)
            logger.log(self._settings.routine_log_level, "%s said goodbye (session %d)",
                       self.device_id, session, extra={"device_id": self.device_id})

    async def _receive(self, client: aiomqtt.Client) -> None:
        """Dispatch what arrives; nothing here awaits anything but the next message."""
        cmd_topic = self._topics.device(self.device_id, Channel.CMD)
        res_topic = self._topics.device(self.device_id, Channel.RES)
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
            try:
                if topic == cmd_topic:
                    self._on_command(bytes(payload))
                elif topic == res_topic:
                    self._on_response(bytes(payload))
                elif topic == self._topics.controller_state:
                    self._on_controller_state(bytes(payload))
            except Exception as exc:
                # The loop boundary: a bug while handling one message must not end the
                # receiver (and with it the connection, then the agent); the message is
                # answered as refused where it can be, and the next one goes on.
                self.stats.internal_errors += 1
                logger.exception("%s: message on %s hit a bug; refused", self.device_id, topic,
                                 extra={"device_id": self.device_id})
                command_id = usable_id(bytes(payload)) if topic == cmd_topic else None
                if command_id is not None:
                    self._reply(error_response(command_id, "internal_error",
                                               f"the device failed on this command: "
                                               f"{type(exc).__name__}"))

    def _on_command(self, payload: bytes) -> None:
        try:
            command = self._commands.parse(payload)
        except ContractError as exc:
            logger.warning("%s: malformed command ignored: %s", self.device_id, exc.reason,
                           extra={"device_id": self.device_id})
            command_id = usable_id(payload)
            if command_id is not None:
                self._reply(error_response(command_id, "invalid_command", exc.reason))
            return
        try:
            self._command_queue.put_nowait(command)
        except asyncio.QueueFull:
            self._reply(error_response(command.id, "busy", "too many commands queued"))

    def _reply(self, response: Response) -> None:
        try:
            self._replies.put_nowait(response)
        except asyncio.QueueFull:
            self.stats.acks_dropped += 1
            logger.warning("ack of command %s dropped: too many acks waiting", response.id,
                           extra={"device_id": self.device_id})

    async def _send_replies(self) -> None:
        while True:
            await self._send_ack(await self._replies.get())

    def _on_response(self, payload: bytes) -> None:
        try:
            response = parse_response(decode_json(payload, MAX_PAYLOAD_BYTES), self.device_id)
        except ContractError as exc:
            self.stats.malformed_messages += 1
            logger.warning("%s: malformed response ignored: %s", self.device_id, exc.reason,
                           extra={"device_id": self.device_id})
            return
        future = self._pending.pop(response.id, None)
        if future is None or future.done():
            logger.debug("%s: response %s matches no waiting request (timed out?)",
                         self.device_id, response.id)
            return
        future.set_result(response)

    def _on_controller_state(self, payload: bytes) -> None:
        if not payload:
            return  # the retained state was cleared
        try:
            state = decode_json(payload, MAX_PAYLOAD_BYTES)
        except ContractError as exc:
            self.stats.malformed_messages += 1
            logger.warning("%s: malformed controller state ignored: %s", self.device_id,
                           exc.reason, extra={"device_id": self.device_id})
            return
        if not (isinstance(state, dict) and state.get("online") is True):
            return
        # A controller that (re)starts may have missed our retained birth; say it again, once
        # per controller birth (a birth carries the controller's session and time).
        if payload == self._controller_birth:
            logger.debug("%s: controller birth seen again; already announced to it",
                         self.device_id, extra={"device_id": self.device_id})
            return
        self._controller_birth = payload
        logger.log(self._settings.routine_log_level,
                   "%s: controller online (session %s); re-announcing", self.device_id,
                   state.get("session"), extra={"device_id": self.device_id})
        self._reannounce.set()

    async def _reannounce_on_request(self, client: aiomqtt.Client, session: int) -> None:
        while True:
            await self._reannounce.wait()
            self._reannounce.clear()
            await self._announce(client, session)

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Publish the outbox while connected; return after stop() between two batches."""
        outbox = self.outbox
        stopped = asyncio.ensure_future(self._stop.wait())
        work: asyncio.Future[None] | None = None
        try:
            while not self._stop.is_set():
                if not outbox.size:
                    work = asyncio.ensure_future(outbox.wait_not_empty())
                    await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
                    work.cancel()
                    continue
                try:
                    await self._publish_batch(client)
                except OutboxError:
                    logger.exception("%s: outbox unreadable; retrying", self.device_id,
                                     extra={"device_id": self.device_id})
                    await asyncio.sleep(1.0)
        finally:
            stopped.cancel()
            if work is not None:
                work.cancel()  # not left waiting when a lost connection cancels the drain

    async def _publish_batch(self, client: aiomqtt.Client) -> None:
        """Publish the oldest messages and delete them once the broker acknowledged them all."""
        outbox = self.outbox
        max_samples = self._settings.max_samples_per_message
        messages = await outbox.next_messages(PUBLISH_WINDOW, max_samples)
        if not messages:
            return
        # Publishes are started in order and the broker keeps one client's order per topic;
        # if any fails, none is deleted and the whole batch is sent again after reconnecting.
        async with asyncio.TaskGroup() as tg:
            for message in messages:
                topic = self._topics.device(self.device_id, message.channel)
                tg.create_task(client.publish(topic, message.payload, qos=1))
        seqs = [seq for message in messages for seq in message.seqs]
        await outbox.remove(seqs)
        self.stats.messages_published += len(messages)
        self.stats.records_delivered += len(seqs)

    async def _publish_when_connected(self, topic: str, payload: bytes) -> None:
        while True:
            await self._connected.wait()
            client = self._client
            if client is None:
                await asyncio.sleep(0.05)
                continue
            try:
                await client.publish(topic, payload, qos=1)
                return
            except aiomqtt.MqttError as exc:
                logger.info("%s: publish on %s failed (%s); waiting for the connection",
                            self.device_id, topic, exc)
                await asyncio.sleep(0.1)


def _finite(values: Mapping[str, TelemetryScalar]) -> dict[str, TelemetryScalar]:
    """Drop NaN and infinities: JSON cannot carry them and one would spoil a whole batch."""
    return {k: v for k, v in values.items()
            if not (isinstance(v, float) and not math.isfinite(v))}


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _command_verifier(settings: AgentSettings) -> CommandVerifier | None:
    """The verifier of signed commands, with its nonces kept in ``data_dir`` (a restarted lock
    still refuses a replay), or None when the device has no key."""
    if settings.command_key is None:
        return None
    nonce_file = settings.data_dir / "nonces.json" if settings.data_dir is not None else None
    if nonce_file is not None:
        nonce_file.parent.mkdir(parents=True, exist_ok=True)
    return CommandVerifier(settings.command_key, settings.device_id, NonceCache(path=nonce_file))
