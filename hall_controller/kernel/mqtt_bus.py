"""The controller's MQTT session: aiomqtt for the connection, paho's manual acknowledgement
for the rule "acknowledged to the broker only after it is committed".

aiomqtt 2.x has no public manual ack, so the bus switches its underlying paho client to
``manual_ack`` and calls ``ack(mid, qos)`` when the pipeline says a message is committed.
The session is persistent (clean_session=False), so whatever was not acknowledged when the
controller died is redelivered by the broker after it comes back.

Back-pressure: an unacknowledged QoS 1 message occupies one of the broker's in-flight slots
for this client (Mosquitto's max_inflight_messages), so a slow pipeline makes the broker stop
sending and queue for us instead of this process buffering without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
from collections.abc import Awaitable, Callable

import aiomqtt

from devices.broker_address import BrokerAddress, is_tls_failure
from devices.cancellation import raise_if_cancelled
from devices.contract import Topics, now_ms
from hall_controller.kernel.bus import BrokerUnavailable, InboundMessage, MessageSink

logger = logging.getLogger(__name__)


class MqttBus:
    """Connects, subscribes to every device topic, hands messages to a sink, publishes.

    ``run`` reconnects with jittered exponential backoff; ``publish`` raises
    BrokerUnavailable while disconnected rather than queueing silently. An ``mqtts://`` URL
    is TLS with verification on, on every attempt: a failed handshake is logged with its
    cause and retried over TLS, never over plain TCP. A TLS file that cannot be loaded fails
    here, at construction (BrokerTlsError), not at the first connection.
    """

    def __init__(
        self, url: str, topics: Topics, *, client_id: str, shared_group: str = "",
        keepalive_s: int = 30, max_inflight: int = 100,
        on_connected: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._address = BrokerAddress.parse(url)
        self._tls_context = self._address.ssl_context()
        self._topics = topics
        self._client_id = client_id
        self._shared_group = shared_group
        self._keepalive_s = keepalive_s
        self._max_inflight = max_inflight
        self._on_connected = on_connected
        self._client: aiomqtt.Client | None = None
        self._generation = 0  # bumps on every connection; acks from older ones are dropped
        self._session = now_ms()  # the controller's own birth/will session
        self.connected = asyncio.Event()
        self.reconnects = 0

    @property
    def url(self) -> str:
        return self._address.display

    def _subscriptions(self) -> list[str]:
        topics = self._topics.controller_subscriptions()
        if self._shared_group:
            return [f"$share/{self._shared_group}/{t}" for t in topics]
        return topics

    def _state_payload(self, online: bool) -> bytes:
        body: dict[str, object] = {"online": online, "session": self._session, "ts": now_ms()}
        return json.dumps(body).encode()

    async def run(self, sink: MessageSink) -> None:
        """Stay connected until cancelled, passing every device message to ``sink``.

        ``sink`` may block (a full queue): the bus then stops reading, which is the point.
        """
        backoff = 0.5
        while True:
            raise_if_cancelled()
            try:
                await self._session_once(sink)
                backoff = 0.5
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                self.reconnects += 1
                delay = random.uniform(0, backoff)  # full jitter: controllers don't stampede
                if self._tls_context is not None and is_tls_failure(exc):
                    # A wrong CA, an expired or mismatched certificate: an operator must act.
                    logger.error("MQTT TLS handshake with %s failed (%s); check mqtt.tls_ca_file "
                                 "and the broker's certificate; retrying over TLS in %.1f s",
                                 self.url, exc, delay)
                else:
                    logger.warning("MQTT connection to %s lost (%s); retrying in %.1f s",
                                   self.url, exc, delay)
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, 30.0)
                raise_if_cancelled()

    async def _session_once(self, sink: MessageSink) -> None:
        will = aiomqtt.Will(self._topics.controller_state, self._state_payload(False), qos=1,
                            retain=True)
        # Always present a username: brokers (amqtt) may treat a nameless client as anonymous
        # and drop its persistent session, and with broker auth the name is the identity.
        client = aiomqtt.Client(
            self._address.host, self._address.port,
            username=self._address.username or self._client_id,
            password=self._address.password, identifier=self._client_id, clean_session=False,
            keepalive=self._keepalive_s, will=will, max_inflight_messages=self._max_inflight,
            tls_context=self._tls_context,
        )
        # Ack-after-commit: paho must not PUBACK on its own once on_message returns.
        client._client.manual_ack_set(True)  # private attribute: no public way in aiomqtt 2.x
        async with client:
            _no_delay(client)
            self._generation += 1
            generation = self._generation
            self._client = client
            try:
                for topic in self._subscriptions():
                    await client.subscribe(topic, qos=1)
                await client.publish(self._topics.controller_state, self._state_payload(True),
                                     qos=1, retain=True)
                self.connected.set()
                logger.info("MQTT connected to %s as %s", self.url, self._client_id)
                if self._on_connected is not None:
                    await self._on_connected()
                async for message in client.messages:
                    # A stop whose cancellation an acknowledgement's wait_for swallowed.
                    raise_if_cancelled()
                    payload = message.payload
                    if not isinstance(payload, bytes | bytearray):
                        payload = str(payload).encode()
                    await sink(InboundMessage(
                        topic=message.topic.value, payload=bytes(payload), received_ms=now_ms(),
                        _ack=self._acker(client, generation, message.mid, message.qos),
                    ))
            finally:
                self._client = None
                self.connected.clear()

    def _acker(self, client: aiomqtt.Client, generation: int, mid: int, qos: int) -> Callable[[], None]:
        def ack() -> None:
            # A message id only means something on the connection it arrived on; after a
            # reconnect the broker redelivers it anyway, so an old ack is simply dropped.
            if qos > 0 and generation == self._generation and self._client is client:
                client._client.ack(mid, qos)  # paho's own ack, see manual_ack_set above
        return ack

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK."""
        client = self._client
        if client is None:
            raise BrokerUnavailable(f"not connected to the MQTT broker at {self.url}")
        try:
            await client.publish(topic, payload, qos=1, retain=retain)
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailable(f"publish to {topic} failed: {exc}") from exc

    async def say_goodbye(self) -> None:
        """On a clean stop: publish the controller's offline state (the will is not sent then)."""
        with contextlib.suppress(BrokerUnavailable, asyncio.TimeoutError):
            async with asyncio.timeout(2):
                await self.publish(self._topics.controller_state, self._state_payload(False),
                                   retain=True)


def _no_delay(client: aiomqtt.Client) -> None:
    """Turn Nagle off on the connection. A request's PUBACK and its reply are two small writes
    in a row: with Nagle the reply waits for the broker's (delayed, ~40 ms) TCP ack of the
    PUBACK, which made every ticket.take take 40-90 ms. paho does not set TCP_NODELAY."""
    sock = client._client.socket()  # private: aiomqtt 2.x has no public way to reach it
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
