"""The ingest pipeline: bus → bounded queue → batches → one transaction → acks → effects.

Every device message ends in exactly one place: telemetry or event tables, the registry, the
command log, a request handler, or the dead-letter table with the reason.  A message is
acknowledged to the broker only after its batch is committed, so a crash or a database outage
loses nothing: the broker redelivers, and redelivered events are deduplicated by id.

Ordering of work inside a batch: parse and validate everything (pure), commit once, ack, then
run effects that talk to the outside (alarms, command acks, request replies).

Poison isolation: no message can stop the pipeline. Whatever a message makes go wrong, a
contract error or an unexpected exception from any step, is caught around that one message: it
becomes a dead letter (``internal_error: <type>: ...`` for a bug), is counted and acknowledged,
the ``controller.internal_error`` alarm is raised, and the next message goes on. So a message
that once crashed a controller is, when the broker redelivers it, just a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from devices.contract import (
    MAX_PAYLOAD_BYTES,
    Birth,
    Channel,
    ContractError,
    Request,
    Response,
    Topics,
    Will,
    encode,
    parse_event,
    parse_request,
    parse_response,
    parse_state,
    parse_telemetry,
)
from devices.json_decoding import decode_json
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.batch import MAX_DEAD_LETTER_PAYLOAD
from hall_controller.fleet.commands import CommandService
from hall_controller.fleet.metrics import IngestCounters
from hall_controller.fleet.model import (
    AlarmSeverity,
    DeadLetter,
    DeviceEvent,
    IngestBatch,
    TelemetryPoint,
)
from hall_controller.fleet.ports import IngestStore
from hall_controller.fleet.presence import Change, Outcome, kind_mismatch_reason
from hall_controller.fleet.provisioning import DeviceIdentities
from hall_controller.fleet.registry import DeviceRegistry
from hall_controller.fleet.requests import RequestRouter
from hall_controller.kernel.bus import InboundMessage, Publisher
from hall_controller.kernel.errors import HallError, StoreUnavailable

logger = logging.getLogger(__name__)

INTERNAL_ERROR = "internal_error"
INTERNAL_ERROR_ALARM = "controller.internal_error"
CONTROLLER_ALARM_SOURCE = "controller"
"""Alarms about the controller itself are raised on this name (not a device of the registry)."""

# Hears each device event once it is committed (alarm rules, access check-in, live feeds).
EventListener = Callable[[DeviceEvent], Awaitable[None]]
# Hears each committed batch's telemetry (alarm rules). Synchronous and called on the ingest
# path, so it must be quick: anything slow it hands to a task of its own.
TelemetryListener = Callable[[list[TelemetryPoint]], None]


@dataclass(slots=True)
class _Parsed:
    """What one message contributes to a batch, and what must happen after the commit."""

    message: InboundMessage
    batch: IngestBatch = field(default_factory=IngestBatch)
    presence: list[Outcome] = field(default_factory=list)
    ack: tuple[str, Response] | None = None
    request: tuple[str, Request] | None = None
    internal_error: str | None = None  # what went wrong, when a bug made this a dead letter


class IngestPipeline:
    def __init__(
        self, store: IngestStore, registry: DeviceRegistry, *, commands: CommandService,
        requests: RequestRouter, publisher: Publisher, topics: Topics,
        counters: IngestCounters | None = None, queue_size: int = 10_000,
        batch_max: int = 1_000, max_payload_bytes: int = MAX_PAYLOAD_BYTES, request_concurrency: int = 64,
        alarms: AlarmService | None = None,
    ) -> None:
        """``alarms``: where ``controller.internal_error`` is raised when a message hits a bug
        (without it the bug is still logged, counted and dead-lettered)."""
        self._store = store
        self._alarms = alarms
        self._registry = registry
        self._commands = commands
        self._requests = requests
        self._publisher = publisher
        self._topics = topics
        self.counters = counters or IngestCounters()
        self._queue: asyncio.Queue[InboundMessage] = asyncio.Queue(maxsize=queue_size)
        self._batch_max = batch_max
        self._max_payload = max_payload_bytes
        self._request_slots = asyncio.Semaphore(request_concurrency)
        self._request_tasks: set[asyncio.Task[None]] = set()
        self._event_listeners: list[EventListener] = []
        self._telemetry_listeners: list[TelemetryListener] = []
        self._identities: DeviceIdentities | None = None

    def check_identities(self, identities: DeviceIdentities) -> None:
        """Hear only the devices ``identities`` admits, as the kind they were provisioned as;
        the others' messages are dead-lettered (``unknown_device``, ``revoked_device``).
        Without it every device is heard (tests of the pipeline alone)."""
        self._identities = identities

    def on_event(self, listener: EventListener) -> None:
        """Call ``listener`` for every new event after its batch is committed. Redelivered
        events (already stored) are not heard again, so listeners need not dedupe."""
        self._event_listeners.append(listener)

    def on_telemetry(self, listener: TelemetryListener) -> None:
        """Call ``listener`` with the telemetry of every batch once it is committed (a
        redelivered sample may be heard twice: listeners judge by its timestamp)."""
        self._telemetry_listeners.append(listener)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    async def submit(self, message: InboundMessage) -> None:
        """The bus's sink. Blocks while the queue is full: that is the back-pressure."""
        self.counters.received += 1
        await self._queue.put(message)

    async def run(self) -> None:
        """Consume forever (cancel to stop). Batches form by themselves under load: whatever
        queued up while the previous batch was committing goes into the next one."""
        while True:
            messages = [await self._queue.get()]
            while len(messages) < self._batch_max and not self._queue.empty():
                messages.append(self._queue.get_nowait())
            try:
                await self.process(messages)
            except Exception:
                # The loop boundary: every step already isolates its messages, so this is a
                # bug in the batch machinery itself. Go again one message at a time, so that
                # only the message that trips it is quarantined.
                logger.exception("batch of %d messages failed; handling them one by one",
                                 len(messages))
                for message in messages:
                    try:
                        await self.process([message])
                    except Exception as exc:
                        await self._quarantine(message, exc)

    async def process(self, messages: list[InboundMessage]) -> None:
        if self._identities is not None:
            # Parsing is synchronous: the credentials of this batch's devices are looked up first.
            await self._identities.prepare(self._device_ids(messages))
        parsed = [self._parse(m) for m in messages]
        new_event_ids = await self._commit(parsed)
        for item in parsed:
            # A request is acknowledged once it is answered (see _answer): if the controller
            # dies in between, the broker redelivers it and the handler, idempotent by
            # (device, request id), answers it then.
            if item.request is None:
                item.message.ack()
        self.counters.committed += len(messages)
        self.counters.batches += 1
        events = sum(len(p.batch.events) for p in parsed)
        self.counters.events_new += len(new_event_ids)
        self.counters.events_duplicate += events - len(new_event_ids)
        if self._telemetry_listeners:
            self._tell_telemetry([p for item in parsed for p in item.batch.telemetry])
        await self._after_commit(parsed, new_event_ids)

    def _tell_telemetry(self, points: list[TelemetryPoint]) -> None:
        if not points:
            return
        for listener in self._telemetry_listeners:
            try:
                listener(points)
            except Exception:
                logger.exception("telemetry listener failed")

    # -- parsing (pure apart from the in-memory registry) ---------------------------------

    def _device_ids(self, messages: list[InboundMessage]) -> set[str]:
        ids = set()
        for message in messages:
            with contextlib.suppress(ContractError):  # _parse dead-letters a bad topic
                ids.add(self._topics.parse(message.topic).device_id)
        return ids

    def _parse(self, message: InboundMessage) -> _Parsed:
        item = _Parsed(message)
        device_id: str | None = None
        if self._topics.is_controller_output(message.topic):
            return item  # our own cmd/res/state, heard back through the wildcard: nothing to do
        try:
            address = self._topics.parse(message.topic)
            device_id = address.device_id
            if address.channel is Channel.STATE and not message.payload:
                # ``mosquitto_pub -r -n``: someone cleared the retained state (decommissioning
                # a device). Not a message from the device, and nothing to record.
                return item
            body = decode_json(message.payload, self._max_payload)
            self._route(item, address.channel, device_id, body)
        except ContractError as exc:
            self._dead_letter(item, device_id, exc.reason)
        except Exception as exc:
            logger.exception("message on %s hit a bug; dead-lettered", message.topic[:200],
                             extra={"device_id": device_id})
            item.internal_error = _internal_reason(exc)
            self._dead_letter(item, device_id, item.internal_error)
        return item

    def _route(self, item: _Parsed, channel: Channel, device_id: str, body: Any) -> None:
        at = item.message.received_ms
        batch = item.batch
        identities = self._identities
        state = parse_state(body, device_id) if channel is Channel.STATE else None
        if identities is not None:
            # The device id comes from the topic (and, with broker auth, from the login): a
            # device nobody provisioned, or one revoked, is not heard at all. Except the will
            # of a registered device: a revoked one the broker disconnects goes offline.
            refusal = identities.refusal(device_id)
            heard_will = isinstance(state, Will) and self._registry.get(device_id) is not None
            if refusal is not None and not heard_will:
                self._dead_letter(item, device_id, refusal)
                return
        if state is not None:
            if isinstance(state, Birth):
                outcome: Outcome | None = self._registry.on_birth(
                    device_id, state, at, provisioned_kind=(
                        identities.provisioned_kind(device_id) if identities else None))
            else:
                outcome = self._registry.on_will(device_id, state, at)
            if outcome is not None and outcome.change is Change.KIND_MISMATCH:
                # Refused: nothing of the birth is recorded; the alarm is raised after commit.
                self._dead_letter(item, device_id, kind_mismatch_reason(outcome))
                item.presence.append(outcome)
                return
            if outcome is not None:
                batch.devices[device_id] = outcome.record
                item.presence.append(outcome)
            return
        if channel is Channel.TELEMETRY:
            for sample in parse_telemetry(body, device_id):
                batch.telemetry.extend(
                    TelemetryPoint(device_id, sample.ts, metric, value)
                    for metric, value in sample.values.items())
            self.counters.telemetry_points += len(batch.telemetry)
        elif channel is Channel.EVENT:
            event = parse_event(body, device_id)
            batch.events.append(DeviceEvent(str(event.id), device_id, event.ts, event.type,
                                            event.data, at))
        elif channel is Channel.REQ:
            item.request = (device_id, parse_request(body, device_id))
            self.counters.requests += 1
        elif channel is Channel.CMD_ACK:
            item.ack = (device_id, parse_response(body, device_id))
        activity = self._registry.on_activity(device_id, at)
        if activity is not None:
            batch.devices[device_id] = activity.record
            if activity.change is not Change.NONE:
                item.presence.append(activity)

    def _dead_letter(self, item: _Parsed, device_id: str | None, reason: str) -> None:
        message = item.message
        item.batch = IngestBatch(dead_letters=[DeadLetter(
            received_ms=message.received_ms, topic=message.topic[:512], device_id=device_id,
            reason=reason, payload=message.payload[:MAX_DEAD_LETTER_PAYLOAD],
            size=len(message.payload),
        )])
        item.presence.clear()
        item.ack = item.request = None
        self.counters.dead_letter(reason)
        logger.warning("dead letter from %s on %s: %s", device_id or "?", message.topic[:200],
                       reason, extra={"device_id": device_id})

    # -- committing --------------------------------------------------------------------------

    async def _commit(self, parsed: list[_Parsed]) -> set[str]:
        merged = _merge(p.batch for p in parsed)
        if merged.is_empty():
            return set()
        try:
            return await self._commit_retrying(merged)
        except Exception as exc:
            # Something in this batch is poison for the database (it passed validation but
            # the store refused it). Commit message by message so only the culprit is
            # dead-lettered and the rest of the batch is kept.
            logger.warning("batch of %d refused by the store (%s); committing one by one",
                           len(parsed), exc)
            return await self._commit_one_by_one(parsed)

    async def _commit_retrying(self, batch: IngestBatch) -> set[str]:
        delay = 0.2
        while True:
            try:
                return await self._store.commit_batch(batch)
            except StoreUnavailable as exc:
                # Nothing is acked while we wait; the queue fills and the bus stops reading.
                self.counters.commit_failures += 1
                logger.error("database unavailable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _commit_one_by_one(self, parsed: list[_Parsed]) -> set[str]:
        new_ids: set[str] = set()
        for item in parsed:
            if item.batch.is_empty():
                continue
            try:
                new_ids |= await self._commit_retrying(item.batch)
            except Exception as exc:
                self._dead_letter(item, _device_of(item), f"rejected by the database: {exc}"[:1000])
                try:
                    await self._commit_retrying(item.batch)
                except Exception as again:
                    # Even its dead letter is refused: keep the reason, drop the payload.
                    logger.exception("dead letter for %s refused too", item.message.topic[:200])
                    self._dead_letter(item, None, _internal_reason(again))
                    item.batch.dead_letters[0] = replace(item.batch.dead_letters[0], payload=b"")
                    item.internal_error = _internal_reason(again)
                    await self._commit_retrying(item.batch)
        return new_ids

    async def _quarantine(self, message: InboundMessage, exc: Exception) -> None:
        """The last resort for a message that failed even alone: keep the reason (and as much
        of the payload as the store takes), acknowledge it, raise the alarm, move on."""
        logger.error("message on %s quarantined: %s", message.topic[:200], _internal_reason(exc))
        reason = _internal_reason(exc)
        item = _Parsed(message)
        self._dead_letter(item, None, reason)
        for letter in (item.batch.dead_letters[0],
                       replace(item.batch.dead_letters[0], payload=b"")):
            try:
                await self._commit_retrying(IngestBatch(dead_letters=[letter]))
                break
            except Exception:
                logger.exception("dead letter for a quarantined message refused")
        message.ack()  # once only: a no-op if the failure came after its own ack
        await self._raise_internal_error([reason], message.topic)

    # -- effects -------------------------------------------------------------------------------

    async def _after_commit(self, parsed: list[_Parsed], new_event_ids: set[str]) -> None:
        bugs = [p for p in parsed if p.internal_error is not None]
        if bugs:
            await self._raise_internal_error([p.internal_error or "" for p in bugs],
                                             bugs[-1].message.topic)
        for item in parsed:
            try:
                for outcome in item.presence:
                    await self._registry.announce(outcome)
                if item.ack is not None:
                    await self._commands.on_ack(*item.ack)
            except Exception:
                logger.exception("effect of a committed message failed")
            for event in item.batch.events:
                if event.event_id in new_event_ids:
                    await self._tell_listeners(event)
            if item.request is not None:
                self._spawn_request(*item.request, item.message)

    async def _raise_internal_error(self, reasons: list[str], topic: str) -> None:
        """One alarm for the controller's bugs (repeats add to its count, not to the list)."""
        self.counters.internal_errors += len(reasons)
        if self._alarms is None:
            return
        try:
            await self._alarms.raise_alarm(
                CONTROLLER_ALARM_SOURCE, INTERNAL_ERROR_ALARM, AlarmSeverity.MAJOR,
                {"reason": reasons[-1][:500], "topic": topic[:200], "messages": len(reasons)})
        except Exception:
            logger.exception("could not raise the %s alarm", INTERNAL_ERROR_ALARM)

    async def _tell_listeners(self, event: DeviceEvent) -> None:
        for listener in self._event_listeners:
            try:
                await listener(event)
            except Exception:
                logger.exception("listener for %s from %s failed", event.type, event.device_id,
                                 extra={"device_id": event.device_id})

    async def requests_answered(self) -> None:
        """Wait until every request handed to a handler so far has been answered."""
        if self._request_tasks:
            await asyncio.gather(*list(self._request_tasks), return_exceptions=True)

    def _spawn_request(self, device_id: str, request: Request, message: InboundMessage) -> None:
        # Requests run beside the pipeline so a slow handler never holds up telemetry.
        task = asyncio.create_task(self._answer(device_id, request, message),
                                   name=f"req-{request.id}")
        self._request_tasks.add(task)
        task.add_done_callback(self._request_tasks.discard)

    async def _answer(self, device_id: str, request: Request, message: InboundMessage) -> None:
        async with self._request_slots:
            response = await self._requests.handle(device_id, self._registry.get(device_id), request)
            try:
                await self._publisher.publish(self._topics.device(device_id, Channel.RES),
                                              encode(response))
            except HallError as exc:
                # Not acknowledged: the broker redelivers the request after we reconnect.
                logger.warning("reply to %s request %s not sent: %s", device_id, request.id, exc)
                return
            message.ack()


def _merge(batches: Any) -> IngestBatch:
    merged = IngestBatch()
    for batch in batches:
        merged.telemetry.extend(batch.telemetry)
        merged.events.extend(batch.events)
        merged.dead_letters.extend(batch.dead_letters)
        merged.devices.update(batch.devices)  # later records of a device supersede earlier ones
    return merged


def _internal_reason(exc: BaseException) -> str:
    return f"{INTERNAL_ERROR}: {type(exc).__name__}: {exc}"[:1000]


def _device_of(item: _Parsed) -> str | None:
    devices = list(item.batch.devices) or [p.device_id for p in item.batch.telemetry[:1]]
    return devices[0] if devices else None
