"""The edge agent: one device's MQTT session, outbox, commands and requests.

Tasks, all named and owned by the agent's ``TaskGroup``:

- ``telemetry``: samples the driver every interval into the outbox (also while offline);
- ``driver``: the driver's own loop, which emits events into the outbox;
- ``commands``: executes received commands one at a time, in arrival order, and acks them;
- ``mqtt``: connects, announces, and per connection runs ``receive``, ``drain``, ``replies``
  and ``reannounce``; reconnects with jittered exponential backoff when the connection is lost
  (``edge/connection.py``; what arrives is sorted by ``edge/inbound.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Self

from devices.cancellation import raise_if_cancelled
from devices.contract import (
    MAX_TELEMETRY_VALUES,
    Channel,
    Command,
    ContractError,
    Response,
    Topics,
    encode,
    error_response,
    new_message_id,
    now_ms,
    parse_event,
    parse_request,
    parse_telemetry,
)
from devices.signing import CommandRejected, CommandVerifier, NonceCache
from edge.backoff import Backoff
from edge.commands import CommandRunner
from edge.connection import BrokerConnection
from edge.driver import DeviceDriver, TelemetryScalar
from edge.errors import EdgeError, OutboxError, RequestTimeout
from edge.inbound import InboundDispatcher
from edge.outbox import MemoryOutbox, Outbox, RecordKind, SqliteOutbox
from edge.settings import AgentSettings
from edge.stats import AgentStats

logger = logging.getLogger(__name__)

# The agent's own telemetry value: samples dropped because the outbox was full, since start.
TELEMETRY_SHED_METRIC = "agent.telemetry_shed"


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
        self._commands = CommandRunner(driver, settings.device_id, settings.command_cache_size,
                                       verifier=_command_verifier(settings),
                                       signed_methods=settings.methods_requiring_signature,
                                       on_rejected=self._report_rejected)
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._lifetime_stack: contextlib.AsyncExitStack | None = None
        self._running = False
        # Seeded by device id: a fleet spreads out, and one device's timing is reproducible.
        self._rng = random.Random(settings.device_id)  # jitter, not secrets
        self.stats = AgentStats(commands=self._commands.stats)
        self._inbound = InboundDispatcher(settings.device_id, self._topics, self._commands,
                                          self.stats, routine_log_level=settings.routine_log_level)
        self._connection = BrokerConnection(settings, inbound=self._inbound, stats=self.stats,
                                            stop=self._stop, rng=self._rng)

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
        return self._connection.session

    @property
    def is_connected(self) -> bool:
        """Whether the agent has announced itself on a live broker connection."""
        return self._connection.is_connected

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
            await self._connection.wait_connected()

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
        future = self._inbound.expect_response(req.id)
        try:
            async with asyncio.timeout(timeout_s):
                await self._connection.publish_when_connected(
                    self._topics.device(self.device_id, Channel.REQ), encode(req))
                return await future
        except TimeoutError:
            raise RequestTimeout(f"no response to {method} ({req.id}) in {timeout_s} s") from None
        finally:
            self._inbound.forget(req.id)

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
            await tg.create_task(self._connection.run(self.outbox), name=f"{name}:mqtt")
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
            raise_if_cancelled()
            command = await self._inbound.commands.get()
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
            await self._connection.send_ack(response)


def _finite(values: Mapping[str, TelemetryScalar]) -> dict[str, TelemetryScalar]:
    """Drop NaN and infinities: JSON cannot carry them and one would spoil a whole batch."""
    return {k: v for k, v in values.items()
            if not (isinstance(v, float) and not math.isfinite(v))}


def _command_verifier(settings: AgentSettings) -> CommandVerifier | None:
    """The verifier of signed commands, with its nonces kept in ``data_dir`` (a restarted lock
    still refuses a replay), or None when the device has no key."""
    if settings.command_key is None:
        return None
    nonce_file = settings.data_dir / "nonces.json" if settings.data_dir is not None else None
    if nonce_file is not None:
        nonce_file.parent.mkdir(parents=True, exist_ok=True)
    return CommandVerifier(settings.command_key, settings.device_id, NonceCache(path=nonce_file))
