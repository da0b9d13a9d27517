"""Webhook delivery end to end: PostgreSQL, the dispatcher, and a real HTTP receiver on
127.0.0.1 that fails before it accepts. The receiver checks signatures with the snippet from
docs/integration.md, run as written, so the docs and the signer cannot drift apart.

127.0.0.1 is refused as a webhook destination unless the allow-list names it, so these tests
name it, as a deployment with an internal receiver would (``[integration] webhook_allow``);
test_webhooks_destinations.py shows what happens when it is not named, or when a name
rebinds to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from hall_controller.cases.destination_guard import DestinationGuard
from hall_controller.cases.destinations import DestinationPolicy
from hall_controller.cases.postgres_store import PostgresCaseStore
from hall_controller.cases.rules import (
    Applicant,
    CaseInput,
    CaseStatus,
    CompletionOutcome,
    DeliveryStatus,
    Material,
)
from hall_controller.cases.service import CaseService
from hall_controller.cases.webhooks import RetryPolicy, WebhookDispatcher, WebhookService
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "integration.md"
SECRET = "whsec-test-0123456789abcdefghijklmnopqrstuvwxyz"
FAST = RetryPolicy(initial_s=0.05, factor=2.0, max_s=0.5, max_attempts=8, jitter=0.0)
# What a deployment with a receiver on the controller's own host configures.
LOCAL_RECEIVERS = DestinationGuard(DestinationPolicy.allowing(["127.0.0.1/32"]))


def local_webhooks(store: PostgresCaseStore) -> WebhookService:
    return WebhookService(store, guard=LOCAL_RECEIVERS)


def local_dispatcher(store: PostgresCaseStore, **options: Any) -> WebhookDispatcher:
    return WebhookDispatcher(store, guard=LOCAL_RECEIVERS, **options)


def doc_verifier() -> Callable[..., dict[str, Any]]:
    """``verify_hall_webhook`` from the Python snippet in docs/integration.md."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    [snippet] = [b for b in blocks if "def verify_hall_webhook" in b]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, str(DOC), "exec"), namespace)
    verify: Callable[..., dict[str, Any]] = namespace["verify_hall_webhook"]
    return verify


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    """Answers each event's first ``fail_first`` deliveries with ``failure`` (a status code,
    or "timeout": answer too late), then 200."""

    port: int
    fail_first: int = 0
    failure: int | str = 503
    requests: list[Received] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/hall"

    def accepted(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.requests if r.answered == 200]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def start_receiver() -> Iterator[Callable[..., Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def start(port: int = 0, tls: ssl.SSLContext | None = None, **options: Any) -> Receiver:
        receiver = Receiver(port=port, **options)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                event_id = str(json.loads(body)["event_id"])
                with receiver.lock:
                    receiver.seen[event_id] = receiver.seen.get(event_id, 0) + 1
                    failing = receiver.seen[event_id] <= receiver.fail_first
                answer = 200
                if failing and receiver.failure == "timeout":
                    time.sleep(1.0)   # longer than the dispatcher's request timeout
                elif failing:
                    answer = int(receiver.failure)
                receiver.requests.append(Received(dict(self.headers.items()), body, answer))
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls is not None:   # https: the handshake happens when a request is accepted
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        receiver.port = server.server_address[1]
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest_asyncio.fixture
async def case_store(database_url: str) -> AsyncIterator[PostgresCaseStore]:
    async with PostgresCaseStore.connect(database_url) as store:
        yield store


class Running:
    """A dispatcher task owned by the test, cancelled at the end."""

    def __init__(self, dispatcher: WebhookDispatcher) -> None:
        self.dispatcher = dispatcher
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WebhookDispatcher:
        self.task = asyncio.create_task(self.dispatcher.run(), name="webhook-dispatcher")
        return self.dispatcher

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def case_input(case_id: str = "2026-XS-000123") -> CaseInput:
    return CaseInput(case_id=case_id, service_code="student-id", status=CaseStatus.AWAITING_VISIT,
                     applicant=Applicant("p-1", "card-1", "李雷"),
                     materials=(Material("photo", "证件照"),))


async def all_delivered(store: PostgresCaseStore) -> bool:
    deliveries = await store.list_deliveries()
    return bool(deliveries) and all(d.status is DeliveryStatus.DELIVERED for d in deliveries)


async def test_completing_a_linked_ticket_reaches_the_platform_signed_after_retries(
    case_store: PostgresCaseStore, start_receiver: Callable[..., Receiver],
) -> None:
    receiver = start_receiver(fail_first=2, failure=503)
    webhooks = local_webhooks(case_store)
    await webhooks.register(receiver.url, SECRET, "platform", "ada")
    cases = CaseService(case_store)
    dispatcher = local_dispatcher(case_store, policy=FAST, poll_interval_s=0.05)
    cases.subscribe(lambda events: dispatcher.wake())

    async with Running(dispatcher):
        await cases.upsert(case_input())
        await cases.link_ticket("2026-XS-000123", "t-1", "A012")
        await cases.complete_linked("2026-XS-000123", "t-1", CompletionOutcome.RESOLVED)
        await eventually(lambda: all_delivered(case_store))

    verify = doc_verifier()
    for request in receiver.requests:
        # Exactly what docs/integration.md tells the platform to do, on the raw bytes.
        payload = verify(SECRET.encode(), request.body, request.headers["X-Hall-Signature"],
                         request.headers["X-Hall-Timestamp"])
        assert payload["case_id"] == "2026-XS-000123"
        assert request.headers["X-Hall-Event"] == payload["type"]
    accepted = receiver.accepted()
    assert sorted(p["type"] for p in accepted) == sorted([
        "case.created", "case.ticket_linked", "case.visit_recorded", "case.materials_updated",
        "case.status_changed", "case.ticket_completed"])
    completed = next(p for p in accepted if p["type"] == "case.ticket_completed")
    assert completed["data"] == {"ticket_id": "t-1", "outcome": "resolved", "reason": None,
                                 "status": "resolved"}
    # Each event was refused twice, then accepted; the log shows every attempt.
    deliveries = await case_store.list_deliveries()
    assert len(deliveries) == 6
    for delivery in deliveries:
        assert (delivery.attempts, delivery.last_status_code) == (3, 200)
        assert delivery.delivered_ms is not None
        log = await case_store.list_attempts(delivery.id)
        assert [(a.attempt, a.status_code, a.error, a.result) for a in log] == [
            (1, 503, "HTTP 503", DeliveryStatus.PENDING),
            (2, 503, "HTTP 503", DeliveryStatus.PENDING),
            (3, 200, None, DeliveryStatus.DELIVERED)]
        # Backoff: the second wait is twice the first.
        assert log[1].at_ms - log[0].at_ms >= 50
        assert log[2].at_ms - log[1].at_ms >= 100
    assert (await case_store.get_case("2026-XS-000123")).status is CaseStatus.RESOLVED  # type: ignore[union-attr]


async def test_a_tampered_body_or_a_stale_timestamp_fails_the_docs_check(
    case_store: PostgresCaseStore, start_receiver: Callable[..., Receiver],
) -> None:
    receiver = start_receiver()
    await local_webhooks(case_store).register(receiver.url, SECRET, "", "ada")
    dispatcher = local_dispatcher(case_store, policy=FAST, poll_interval_s=0.05)
    async with Running(dispatcher):
        await CaseService(case_store).upsert(case_input())
        await eventually(lambda: all_delivered(case_store))
    [request] = receiver.requests
    verify = doc_verifier()
    signature, stamp = request.headers["X-Hall-Signature"], request.headers["X-Hall-Timestamp"]
    tampered = request.body.replace(b"awaiting_visit", b"resolved_visit")
    with pytest.raises(ValueError, match="signature"):
        verify(SECRET.encode(), tampered, signature, stamp)
    with pytest.raises(ValueError, match="signature"):
        verify(b"another-secret-entirely-0123456789", request.body, signature, stamp)
    with pytest.raises(ValueError, match="old"):
        verify(SECRET.encode(), request.body, signature, stamp, now_ms=int(stamp) + 10 * 60_000)
    with pytest.raises(ValueError, match="timestamp"):
        verify(SECRET.encode(), request.body, signature, str(int(stamp) + 1))


async def test_timeouts_and_refused_connections_are_retried_until_the_receiver_is_back(
    case_store: PostgresCaseStore, start_receiver: Callable[..., Receiver],
) -> None:
    port = free_port()   # nothing listens here yet: connection refused
    await local_webhooks(case_store).register(f"http://127.0.0.1:{port}/hooks/hall", SECRET, "",
                                              "ada")
    dispatcher = local_dispatcher(case_store, policy=FAST, poll_interval_s=0.05,
                                   request_timeout_s=0.3)

    async def attempted(n: int) -> bool:
        deliveries = await case_store.list_deliveries()
        return bool(deliveries) and deliveries[0].attempts >= n

    async with Running(dispatcher):
        await CaseService(case_store).upsert(case_input())
        await eventually(lambda: attempted(2))
        # Now a receiver that answers too late once, then accepts.
        receiver = start_receiver(port=port, fail_first=1, failure="timeout")
        await eventually(lambda: all_delivered(case_store))

    [delivery] = await case_store.list_deliveries()
    log = await case_store.list_attempts(delivery.id)
    assert log[0].status_code is None and "Connect" in (log[0].error or "")
    assert any(a.error is not None and a.error.startswith("timeout") for a in log)
    assert log[-1].status_code == 200
    assert len(receiver.accepted()) == 1


async def test_deliveries_survive_a_dispatcher_restart(
    case_store: PostgresCaseStore, database_url: str, start_receiver: Callable[..., Receiver],
) -> None:
    receiver = start_receiver(fail_first=1, failure=500)
    await local_webhooks(case_store).register(receiver.url, SECRET, "", "ada")
    slow = RetryPolicy(initial_s=0.5, factor=1.0, max_s=0.5, max_attempts=5, jitter=0.0)
    async with Running(local_dispatcher(case_store, policy=slow, poll_interval_s=0.05)):
        await CaseService(case_store).upsert(case_input())
        await eventually(lambda: attempts_are(case_store, 1))
    # The first controller is gone; a new one, over a new pool, finishes the job.
    async with PostgresCaseStore.connect(database_url) as other, \
            Running(local_dispatcher(other, policy=slow, poll_interval_s=0.05)):
        await eventually(lambda: all_delivered(other))
    assert len(receiver.accepted()) == 1
    assert len(receiver.requests) == 2


async def attempts_are(store: PostgresCaseStore, n: int) -> bool:
    deliveries = await store.list_deliveries()
    return bool(deliveries) and deliveries[0].attempts == n


async def test_a_refusal_is_not_retried_and_an_admin_can_redeliver(
    case_store: PostgresCaseStore, start_receiver: Callable[..., Receiver],
) -> None:
    receiver = start_receiver(fail_first=1, failure=410)
    webhooks = local_webhooks(case_store)
    await webhooks.register(receiver.url, SECRET, "", "ada")
    async with Running(local_dispatcher(case_store, policy=FAST, poll_interval_s=0.05)):
        await CaseService(case_store).upsert(case_input())

        async def failed() -> bool:
            return len(await case_store.list_deliveries(status=DeliveryStatus.FAILED)) == 1

        await eventually(failed)
        [delivery] = await case_store.list_deliveries()
        await webhooks.redeliver(delivery.id)
        await eventually(lambda: all_delivered(case_store))
    # 410 Gone is an answer, not an outage: no retry came before the admin's redelivery.
    assert [r.answered for r in receiver.requests] == [410, 200]


async def test_a_receiver_that_never_recovers_ends_failed_after_the_last_attempt(
    case_store: PostgresCaseStore, start_receiver: Callable[..., Receiver],
) -> None:
    receiver = start_receiver(fail_first=100, failure=502)
    await local_webhooks(case_store).register(receiver.url, SECRET, "", "ada")
    policy = RetryPolicy(initial_s=0.02, factor=1.5, max_s=0.1, max_attempts=4, jitter=0.0)
    async with Running(local_dispatcher(case_store, policy=policy, poll_interval_s=0.05)):
        await CaseService(case_store).upsert(case_input())

        async def failed() -> bool:
            return len(await case_store.list_deliveries(status=DeliveryStatus.FAILED)) == 1

        await eventually(failed)
    [delivery] = await case_store.list_deliveries()
    assert (delivery.attempts, delivery.last_status_code, delivery.next_attempt_ms) == (
        4, 502, None)
    assert len(receiver.requests) == 4
