"""An edge agent's side of the broker: connect, announce, receive, publish, say goodbye.

``BrokerConnection.run`` is the agent's ``mqtt`` task: it connects, announces the device, and
per connection runs ``receive``, ``drain``, ``replies`` and ``reannounce``; it reconnects with
jittered exponential backoff when the connection is lost, and returns after the agent's stop
event, once the outbox is flushed (briefly) and the offline state published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import aiomqtt

from devices.broker_address import is_tls_failure
from devices.cancellation import raise_if_cancelled
from devices.contract import Birth, Channel, Response, Topics, Will, encode, now_ms
from edge.backoff import Backoff
from edge.errors import EdgeError, OutboxError
from edge.inbound import InboundDispatcher
from edge.outbox import Outbox
from edge.session_counter import SessionCounter
from edge.settings import AgentSettings
from edge.stats import AgentStats

logger = logging.getLogger(__name__)

# Messages published before waiting for their PUBACKs: enough to keep the link busy, and under
# aiomqtt's "pending calls" warning threshold (10) and paho's in-flight window (20).
PUBLISH_WINDOW = 10
# A connection that stayed up this long resets the backoff; one that drops at once (a client
# id taken over by a twin, a broker refusing us) keeps backing off instead of flapping.
STABLE_CONNECTION_S = 10.0


class BrokerConnection:
    """The MQTT session of one device, across reconnections.

    ``stop`` is the agent's stop event; ``rng`` its random source (shared, so one device's
    timing stays reproducible).  ``inbound`` sorts what arrives and holds the acks to send.
    """

    def __init__(self, settings: AgentSettings, *, inbound: InboundDispatcher, stats: AgentStats,
                 stop: asyncio.Event, rng: random.Random) -> None:
        self._settings = settings
        self._device_id = settings.device_id
        self._broker = settings.broker
        self._inbound = inbound
        self._stats = stats
        self._stop = stop
        self._rng = rng
        self._topics = Topics(settings.topic_prefix)
        session_file = settings.data_dir / "session" if settings.data_dir is not None else None
        self._sessions = SessionCounter(session_file)
        self._outbox: Outbox | None = None  # while run() runs
        self._client: aiomqtt.Client | None = None  # while a connection is up
        self._connected = asyncio.Event()

    @property
    def session(self) -> int:
        """The session number of the current (or last) connection attempt."""
        return self._sessions.current

    @property
    def is_connected(self) -> bool:
        """Whether the device is announced on a live broker connection."""
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Wait until the device is connected and announced."""
        await self._connected.wait()

    @property
    def outbox(self) -> Outbox:
        """The outbox being published; only while ``run`` runs."""
        if self._outbox is None:
            raise EdgeError(f"{self._device_id}: the connection is not running")
        return self._outbox

    async def run(self, outbox: Outbox) -> None:
        """Stay connected, publishing ``outbox``, until the stop event is set."""
        self._outbox = outbox
        try:
            await self._stay_connected()
        finally:
            self._outbox = None

    async def send_ack(self, response: Response) -> None:
        """Publish a command's ack; dropped (and counted) when not connected."""
        client = self._client
        if client is None:
            # The controller times the command out; a retry with the same id gets the cached ack.
            self._stats.acks_dropped += 1
            logger.warning("ack of command %s dropped: not connected", response.id,
                           extra={"device_id": self._device_id})
            return
        topic = self._topics.device(self._device_id, Channel.CMD_ACK)
        try:
            await client.publish(topic, encode(response), qos=1)
        except aiomqtt.MqttError as exc:
            self._stats.acks_dropped += 1
            logger.warning("ack of command %s dropped: %s", response.id, exc,
                           extra={"device_id": self._device_id})

    async def publish_when_connected(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 as soon as there is a connection (the caller bounds the wait)."""
        while True:
            raise_if_cancelled()
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
                            self._device_id, topic, exc)
                await asyncio.sleep(0.1)

    async def _stay_connected(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff(self._settings.reconnect_min_s, self._settings.reconnect_max_s, self._rng)
        while not self._stop.is_set():
            raise_if_cancelled()
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
            if self._stats.connects and loop.time() - started >= STABLE_CONNECTION_S:
                backoff.reset()
            delay = backoff.next_delay()
            if self._broker.tls is not None and lost is not None and is_tls_failure(lost):
                logger.error("%s: TLS handshake with %s failed (%s); check the CA file and "
                             "the certificates; retrying over TLS in %.1f s", self._device_id,
                             self._broker.display, lost, delay,
                             extra={"device_id": self._device_id})
            else:
                logger.warning("%s: broker connection lost or refused (%s); retrying in %.1f s",
                               self._device_id, lost, delay, extra={"device_id": self._device_id})
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
            identifier=self._device_id,
            # A persistent session: commands sent while we were away wait for us (and are
            # then refused if they expired meanwhile).
            clean_session=False,
            will=aiomqtt.Will(self._state_topic, encode(will), qos=1, retain=True),
            keepalive=self._settings.keepalive_s,
            timeout=self._settings.mqtt_timeout_s,
            # mqtts://: verified TLS on every attempt, never plain TCP (files re-read, so a
            # renewed certificate is used from the next connection on).
            tls_context=b.ssl_context(),
        )

    async def _connect_and_serve(self, session: int) -> None:
        async with self._make_client(session) as client:
            self._stats.connects += 1
            try:
                raise_if_cancelled()
                await self._serve(client, session)
            except asyncio.CancelledError:
                await self._goodbye(client, session, flush=False)
                raise
            except BaseException:
                self._stats.connection_losses += 1
                raise

    async def _serve(self, client: aiomqtt.Client, session: int) -> None:
        """One connection: announce, subscribe, work until stop(), then say goodbye."""
        # Acks may go out at once: commands queued for us while we were away arrive right
        # after the CONNACK, before our own subscribe.
        self._client = client
        self._inbound.reannounce.clear()  # the birth below answers any controller seen meanwhile
        name = f"edge:{self._device_id}"
        async with asyncio.TaskGroup() as tg:
            # The receiver starts first and never waits on a publish: sitting in
            # client.messages is what notices a lost connection at once (a PUBACK or SUBACK
            # still awaited would only time out after mqtt_timeout_s), and it retrieves the
            # error aiomqtt keeps for the disconnect, which asyncio would otherwise log as
            # "Future exception was never retrieved".  Its failure cancels everything below.
            receiver = tg.create_task(self._receive(client), name=f"{name}:receive")
            await self._announce(client, session)
            await client.subscribe([
                (self._topics.device(self._device_id, Channel.CMD), 1),
                (self._topics.device(self._device_id, Channel.RES), 1),
                (self._topics.controller_state, 1),
            ])
            self._connected.set()
            logger.log(self._settings.routine_log_level, "%s connected to %s (session %d)",
                       self._device_id, self._broker.display, session,
                       extra={"device_id": self._device_id})
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
        return self._topics.device(self._device_id, Channel.STATE)

    async def _announce(self, client: aiomqtt.Client, session: int) -> None:
        s = self._settings
        birth = Birth(online=True, session=session, kind=s.kind, model=s.model, fw=s.fw,
                      site=s.site, ts=now_ms())
        await client.publish(self._state_topic, encode(birth), qos=1, retain=True)
        self._stats.announcements += 1

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
                       self._device_id, session, extra={"device_id": self._device_id})

    async def _receive(self, client: aiomqtt.Client) -> None:
        """Hand what arrives to the dispatcher; nothing here awaits anything but the next
        message."""
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
            self._inbound.dispatch(message.topic.value, bytes(payload))

    async def _send_replies(self) -> None:
        while True:
            raise_if_cancelled()
            await self.send_ack(await self._inbound.replies.get())

    async def _reannounce_on_request(self, client: aiomqtt.Client, session: int) -> None:
        while True:
            raise_if_cancelled()
            await self._inbound.reannounce.wait()
            self._inbound.reannounce.clear()
            await self._announce(client, session)

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Publish the outbox while connected; return after stop() between two batches."""
        outbox = self.outbox
        stopped = asyncio.ensure_future(self._stop.wait())
        work: asyncio.Future[None] | None = None
        try:
            while not self._stop.is_set():
                raise_if_cancelled()
                if not outbox.size:
                    work = asyncio.ensure_future(outbox.wait_not_empty())
                    await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
                    work.cancel()
                    continue
                try:
                    await self._publish_batch(client)
                except OutboxError:
                    logger.exception("%s: outbox unreadable; retrying", self._device_id,
                                     extra={"device_id": self._device_id})
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
                topic = self._topics.device(self._device_id, message.channel)
                tg.create_task(client.publish(topic, message.payload, qos=1))
        seqs = [seq for message in messages for seq in message.seqs]
        await outbox.remove(seqs)
        self._stats.messages_published += len(messages)
        self._stats.records_delivered += len(seqs)


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error

