"""Webhook signing and the dispatcher's retry decisions, over the in-memory store and an
in-process HTTP transport (the real receiver is in tests/integration/test_webhooks_delivery.py)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

import httpx
import pytest

from hall_controller.cases.memory_store import MemoryCaseStore
from hall_controller.cases.rules import Applicant, CaseInput, CaseStatus, DeliveryStatus
from hall_controller.cases.service import CaseService
from hall_controller.cases.webhooks import (
    RetryPolicy,
    WebhookDispatcher,
    WebhookService,
    sign,
    verify,
)

SECRET = "k" * 40
T0 = 1_780_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def test_the_signature_is_the_hmac_of_the_raw_body_and_verify_checks_freshness() -> None:
    body = json.dumps({"event_id": 1, "sent_at_ms": T0}).encode()
    signature = sign(SECRET, body)
    assert signature == "sha256=" + hmac.new(SECRET.encode(), body, "sha256").hexdigest()
    assert verify(SECRET, body, signature, str(T0), now_ms_=T0 + 1000)
    assert not verify(SECRET, body + b" ", signature, str(T0), now_ms_=T0)
    assert not verify(SECRET, body, signature, str(T0 + 1), now_ms_=T0)
    assert not verify(SECRET, body, signature, str(T0), now_ms_=T0 + 6 * 60_000)


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_s=10, factor=2, max_s=60, jitter=0)
    assert [policy.delay_ms(n) for n in range(1, 6)] == [10_000, 20_000, 40_000, 60_000, 60_000]
    jittery = RetryPolicy(initial_s=10, jitter=0.1)
    assert all(9_000 <= jittery.delay_ms(1) <= 11_000 for _ in range(100))


async def setup(answer: Callable[[httpx.Request], httpx.Response],
                max_attempts: int = 3) -> tuple[MemoryCaseStore, WebhookDispatcher, Clock]:
    store = MemoryCaseStore()
    clock = Clock()
    await WebhookService(store, clock=clock).register("http://platform.test/hook", SECRET, "",
                                                      "ada")
    await CaseService(store, clock=clock).upsert(CaseInput(
        "c-1", "student-id", CaseStatus.AWAITING_VISIT, Applicant("p-1")))
    dispatcher = WebhookDispatcher(
        store, clock=clock, transport=httpx.MockTransport(answer),
        policy=RetryPolicy(initial_s=1, factor=2, max_s=100, max_attempts=max_attempts,
                           jitter=0))
    return store, dispatcher, clock


@pytest.mark.parametrize(("answer", "status", "next_ms"), [
    (httpx.Response(200), DeliveryStatus.DELIVERED, None),
    (httpx.Response(503), DeliveryStatus.PENDING, T0 + 1000),
    (httpx.Response(429), DeliveryStatus.PENDING, T0 + 1000),
    (httpx.Response(410), DeliveryStatus.FAILED, None),
    (httpx.Response(302, headers={"Location": "http://elsewhere.test/"}),
     DeliveryStatus.FAILED, None),
    (httpx.ConnectError("connection refused"), DeliveryStatus.PENDING, T0 + 1000),
    (httpx.ReadTimeout("too slow"), DeliveryStatus.PENDING, T0 + 1000),
])
async def test_what_an_answer_does_to_a_delivery(
    answer: httpx.Response | Exception, status: DeliveryStatus, next_ms: int | None,
) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    store, dispatcher, _ = await setup(respond)
    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
        assert await dispatcher.run_once(client) == 1
    [delivery] = store.deliveries.values()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_ms) == (status, 1, next_ms)


async def test_retries_back_off_and_stop_after_the_last_attempt() -> None:
    requests: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(500, text="boom")

    store, dispatcher, clock = await setup(respond, max_attempts=3)
    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
        await dispatcher.run_once(client)
        assert await dispatcher.run_once(client) == 0   # not due yet
        clock.now += 1000
        await dispatcher.run_once(client)
        clock.now += 1999
        assert await dispatcher.run_once(client) == 0
        clock.now += 1
        await dispatcher.run_once(client)
        clock.now += 10**9
        assert await dispatcher.run_once(client) == 0   # gave up
    [delivery] = store.deliveries.values()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        DeliveryStatus.FAILED, 3, "boom")
    assert [r.headers["X-Hall-Attempt"] for r in requests] == ["1", "2", "3"]
    for request in requests:
        assert verify(SECRET, request.content, request.headers["X-Hall-Signature"],
                      request.headers["X-Hall-Timestamp"], now_ms_=T0)
    assert [a.result for a in store.attempts] == [
        DeliveryStatus.PENDING, DeliveryStatus.PENDING, DeliveryStatus.FAILED]
