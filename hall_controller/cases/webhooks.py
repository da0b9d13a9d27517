"""Signed webhooks for case events: registration, signing, and the dispatcher that delivers.

Deliveries live in the database: the transaction that appends a case event also queues one
delivery per active webhook (see ``CaseStore.save_case``). ``WebhookDispatcher.run`` polls for
due deliveries, POSTs them, and records each attempt; a receiver that fails (5xx, 408, 429,
timeout, connection refused) is retried with exponential backoff, so nothing is lost across a
receiver outage or a controller restart. Any other answer (3xx, 4xx) is a refusal that
retrying will not fix: the delivery is marked failed at once (an admin can redeliver it).
Only the status code of an answer is kept, never its body (a receiver's page could hold
anything, and whatever the hall stores an admin reads back through the API).

Destinations: a URL whose host is or resolves to a loopback, private, link-local, metadata (and
so on, see ``destinations``) address is refused at registration, unless the admin allow-list
names it. Before every attempt the host is resolved and checked again, and the request goes to
the checked address itself (the URL's host kept in the Host header and, for https, in the TLS
server name and certificate check), so a DNS answer changed since registration (rebinding)
reaches nothing it should not. A delivery refused that way fails at once
(``destination_refused``): retrying would only ask the same name again.

Signature: ``X-Hall-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the
webhook's secret>``. The body carries ``sent_at_ms``, equal to the ``X-Hall-Timestamp``
header: because the body is signed, so is the timestamp, and a receiver can refuse replays
older than its window (see docs/integration.md).

Wiring: ``features.CasesFeature`` wakes the dispatcher on every case event and runs
``dispatcher.run()`` as one of the controller's jobs (cancelled to stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from devices.contract import now_ms
from hall_controller.cases.destination_guard import CheckedDestination, DestinationGuard
from hall_controller.cases.destinations import DestinationRefused, DestinationUnresolved
from hall_controller.cases.ports import WebhookStore
from hall_controller.cases.rules import (
    CaseEvent,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DueDelivery,
    Webhook,
)
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import NotFound

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hall-Signature"
TIMESTAMP_HEADER = "X-Hall-Timestamp"
EVENT_HEADER = "X-Hall-Event"
DELIVERY_HEADER = "X-Hall-Delivery"
ATTEMPT_HEADER = "X-Hall-Attempt"
REPLAY_WINDOW_MS = 5 * 60_000
MIN_SECRET_LENGTH = 32
_ERROR_TEXT_LIMIT = 500


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hall-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str, timestamp: str, *,
           now_ms_: int | None = None, window_ms: int = REPLAY_WINDOW_MS) -> bool:
    """What a receiver does (docs/integration.md has the same, standalone): the signature
    matches the raw body, the body's ``sent_at_ms`` is the timestamp header, and it is recent."""
    if not hmac.compare_digest(sign(secret, body), signature):
        return False
    try:
        sent_at = json.loads(body)["sent_at_ms"]
        stamp = int(timestamp)
    except (ValueError, KeyError, TypeError):
        return False
    now = now_ms() if now_ms_ is None else now_ms_
    return bool(sent_at == stamp and abs(now - stamp) <= window_ms)


def event_body(event: CaseEvent, delivery_id: int, sent_at_ms: int) -> bytes:
    """The JSON body POSTed for ``event`` (compact UTF-8; signed as these exact bytes)."""
    body: dict[str, Any] = {
        "event_id": event.id, "type": event.type.value, "case_id": event.case_id,
        "at_ms": event.at_ms, "data": event.data, "delivery_id": delivery_id,
        "sent_at_ms": sent_at_ms,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: the n-th retry waits ``initial_s * factor**(n-1)``, at most
    ``max_s``, ± ``jitter`` of it (so receivers coming back are not hit by everyone at once).
    After ``max_attempts`` failed attempts the delivery is marked failed."""

    initial_s: float = 10.0
    factor: float = 2.0
    max_s: float = 3600.0
    max_attempts: int = 12       # with the defaults: retries over about 5.6 hours
    jitter: float = 0.1

    def delay_ms(self, attempts_made: int) -> int:
        base = min(self.max_s, self.initial_s * self.factor ** max(attempts_made - 1, 0))
        spread = base * self.jitter * (2 * random.random() - 1)
        return max(0, int((base + spread) * 1000))


def _retryable(status_code: int) -> bool:
    return status_code >= 500 or status_code in (408, 429)


@dataclass(frozen=True, slots=True)
class RegisteredWebhook:
    webhook: Webhook
    secret: str   # shown once, at registration


class WebhookService:
    """Admin use cases: register webhooks, look at the delivery log, redeliver."""

    def __init__(self, store: WebhookStore, *, clock: Callable[[], int] = now_ms,
                 guard: DestinationGuard | None = None) -> None:
        self._store = store
        self._clock = clock
        self._guard = guard or DestinationGuard()

    async def register(self, url: str, secret: str | None, description: str,
                       by: str) -> RegisteredWebhook:
        """Register ``url``; with no ``secret`` one is generated. Events appended from now on
        are delivered to it (earlier ones are in the event feed).

        Raises DestinationRefused when the URL's host is, or resolves to, an address the hall
        does not send to, and DestinationUnresolved when it does not resolve."""
        secret = secret or secrets.token_urlsafe(32)
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"a webhook secret must be at least {MIN_SECRET_LENGTH} characters")
        await self._guard.check(url)
        webhook = await self._store.insert_webhook(url, secret, description, self._clock(), by)
        logger.info("webhook %s registered for %s by %s", webhook.id, url, by,
                    extra={"webhook_id": webhook.id, "by": by})
        return RegisteredWebhook(webhook, secret)

    async def list_webhooks(self) -> list[Webhook]:
        return await self._store.list_webhooks()

    async def get(self, webhook_id: int) -> Webhook:
        webhook = await self._store.get_webhook(webhook_id)
        if webhook is None:
            raise NotFound(f"unknown webhook {webhook_id}",
                           code=ErrorCode.WEBHOOK_UNKNOWN, webhook=webhook_id)
        return webhook

    async def set_active(self, webhook_id: int, active: bool) -> Webhook:
        return await self._store.set_webhook_active(webhook_id, active)

    async def deliveries(self, *, webhook_id: int | None = None, event_id: int | None = None,
                         status: DeliveryStatus | None = None,
                         limit: int = 100) -> list[Delivery]:
        return await self._store.list_deliveries(webhook_id=webhook_id, event_id=event_id,
                                                 status=status, limit=limit)

    async def delivery(self, delivery_id: int) -> tuple[Delivery, list[DeliveryAttempt]]:
        delivery = await self._store.get_delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"unknown delivery {delivery_id}",
                           code=ErrorCode.DELIVERY_UNKNOWN, delivery=delivery_id)
        return delivery, await self._store.list_attempts(delivery_id)

    async def redeliver(self, delivery_id: int) -> Delivery:
        """Make a failed (or pending) delivery due now; a delivered one stays as it is."""
        return await self._store.retry_delivery(delivery_id, self._clock())


class WebhookDispatcher:
    """Delivers due webhook deliveries from the database until cancelled.

    Several dispatchers (two controllers) may run against one database: a claimed delivery is
    leased, so each is sent by one of them at a time. ``wake()`` skips the rest of the poll
    interval (call it when events are appended, for prompt delivery).
    """

    def __init__(
        self, store: WebhookStore, *, policy: RetryPolicy | None = None,
        poll_interval_s: float = 2.0, batch_size: int = 20, request_timeout_s: float = 10.0,
        clock: Callable[[], int] = now_ms, transport: httpx.AsyncBaseTransport | None = None,
        guard: DestinationGuard | None = None,
    ) -> None:
        self._store = store
        self.policy = policy or RetryPolicy()
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._timeout_s = request_timeout_s
        # The lease outlives the longest possible attempt, so a delivery still being sent is
        # never claimed again by another dispatcher.
        self._lease_ms = int((request_timeout_s * 2 + 30) * 1000)
        self._clock = clock
        self._transport = transport
        self._guard = guard or DestinationGuard()
        self._wake = asyncio.Event()
        # Dispatch rounds completed: lets a caller (or a test) wait for "N more looks at the
        # due deliveries" rather than for a guessed time.
        self.rounds = 0

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled. Database outages are logged and waited out."""
        # No kept-alive connections: a connection is opened to one checked address for one
        # host name, and must not carry another webhook's request that happens to resolve to
        # the same address (its TLS identity was checked for the first name only).
        async with httpx.AsyncClient(timeout=self._timeout_s, transport=self._transport,
                                     follow_redirects=False,
                                     limits=httpx.Limits(max_keepalive_connections=0),
                                     headers={"User-Agent": "campus-hall-webhooks/1"}) as client:
            while True:
                # Cleared before the round, so a wake() during it is not lost.
                self._wake.clear()
                try:
                    sent = await self.run_once(client)
                except Exception:
                    # Loop boundary: a database outage or a bug in one round must not end
                    # deliveries for good; the deliveries stay in the database for next time.
                    logger.exception("webhook dispatch round failed")
                    sent = 0
                self.rounds += 1
                if sent < self._batch_size:
                    # A full batch means more may be due: go again at once; otherwise wait.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)

    async def run_once(self, client: httpx.AsyncClient) -> int:
        """Claim the due deliveries and send them concurrently; returns how many."""
        due = await self._store.claim_due_deliveries(self._clock(), self._lease_ms,
                                                     self._batch_size)
        if due:
            async with asyncio.TaskGroup() as group:
                for item in due:
                    group.create_task(self._deliver(client, item),
                                      name=f"webhook-delivery-{item.delivery.id}")
        return len(due)

    async def _deliver(self, client: httpx.AsyncClient, item: DueDelivery) -> None:
        delivery, webhook = item.delivery, item.webhook
        attempt = delivery.attempts + 1
        sent_at = self._clock()
        body = event_body(item.event, delivery.id, sent_at)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(webhook.secret, body),
            TIMESTAMP_HEADER: str(sent_at),
            EVENT_HEADER: item.event.type.value,
            DELIVERY_HEADER: str(delivery.id),
            ATTEMPT_HEADER: str(attempt),
        }
        started = time.monotonic()
        status_code, error, permanent = await self._send(client, webhook.url, body, headers)
        duration_ms = int((time.monotonic() - started) * 1000)
        now = self._clock()
        if status_code is not None and 200 <= status_code < 300:
            result, next_ms = DeliveryStatus.DELIVERED, None
        elif not permanent and (status_code is None or _retryable(status_code)) \
                and attempt < self.policy.max_attempts:
            result, next_ms = DeliveryStatus.PENDING, now + self.policy.delay_ms(attempt)
        else:
            result, next_ms = DeliveryStatus.FAILED, None
        await self._store.record_attempt(DeliveryAttempt(
            delivery_id=delivery.id, attempt=attempt, at_ms=sent_at, duration_ms=duration_ms,
            status_code=status_code, error=error, result=result, next_attempt_ms=next_ms))
        log = logger.info if result is DeliveryStatus.DELIVERED else logger.warning
        log("webhook delivery %s (event %s) attempt %s: %s", delivery.id, item.event.id,
            attempt, result.value if error is None else f"{result.value} ({error})",
            extra={"delivery_id": delivery.id, "webhook_id": webhook.id,
                   "status_code": status_code, "attempt": attempt})

    async def _send(self, client: httpx.AsyncClient, url: str, body: bytes,
                    headers: dict[str, str]) -> tuple[int | None, str | None, bool]:
        """POST to the checked address of ``url``: (status code, error, permanent failure)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                destination = await self._guard.check(url)
        except DestinationRefused as exc:
            return None, f"destination_refused: {exc}"[:_ERROR_TEXT_LIMIT], True
        except DestinationUnresolved as exc:   # DNS may be back next time: retried
            return None, f"dns: {exc}"[:_ERROR_TEXT_LIMIT], False
        except TimeoutError:
            return None, "timeout: resolving the host", False
        pinned_url, extensions = _pinned(url, destination)
        try:
            # Streamed and closed unread: only the status code is kept, so the body (which
            # could be anything, and large) is never downloaded.
            async with client.stream("POST", pinned_url, content=body,
                                     headers={**headers, "Host": _host_header(url)},
                                     extensions=extensions) as response:
                status_code = response.status_code
        except httpx.TimeoutException as exc:
            return None, f"timeout: {type(exc).__name__}", False
        except httpx.HTTPError as exc:   # connection refused or reset, protocol errors
            return None, f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_LIMIT], False
        return status_code, None if 200 <= status_code < 300 else f"HTTP {status_code}", False


def _pinned(url: str, destination: CheckedDestination) -> tuple[httpx.URL, dict[str, Any]]:
    """``url`` with its host replaced by the checked address, and for https the request
    extension that keeps the host name as the TLS server name (SNI), which is also the name
    the certificate is verified against."""
    pinned = httpx.URL(url).copy_with(host=str(destination.address))
    extensions: dict[str, Any] = {}
    if destination.endpoint.scheme == "https":
        extensions["sni_hostname"] = destination.endpoint.host
    return pinned, extensions


def _host_header(url: str) -> str:
    """The Host header ``url`` would have had: host, and port unless it is the default."""
    return httpx.URL(url).netloc.decode("ascii")
