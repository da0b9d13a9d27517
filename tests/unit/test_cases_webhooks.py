"""Webhook signing and the dispatcher's retry decisions, over the in-memory store and an
in-process HTTP transport (the real receiver is in tests/integration/test_webhooks_delivery.py)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Sequence
from ipaddress import ip_address

import httpx
import pytest

from hall_controller.cases.destination_guard import DestinationGuard
from hall_controller.cases.destinations import DestinationRefused, IPAddress
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
PUBLIC = "93.184.216.34"


class Dns:
    """platform.test resolves to whatever ``answer`` says at the time (a DNS that can change)."""

    def __init__(self, answer: str = PUBLIC) -> None:
        self.answer = answer
        self.lookups = 0

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        assert host == "platform.test"
        self.lookups += 1
        return [ip_address(self.answer)]


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


async def setup(answer: Callable[[httpx.Request], httpx.Response], max_attempts: int = 3,
                dns: Dns | None = None, url: str = "http://platform.test/hook",
                ) -> tuple[MemoryCaseStore, WebhookDispatcher, Clock]:
    store = MemoryCaseStore()
    clock = Clock()
    guard = DestinationGuard(resolver=dns or Dns())
    await WebhookService(store, clock=clock, guard=guard).register(url, SECRET, "", "ada")
    await CaseService(store, clock=clock).upsert(CaseInput(
        "c-1", "student-id", CaseStatus.AWAITING_VISIT, Applicant("p-1")))
    dispatcher = WebhookDispatcher(
        store, clock=clock, transport=httpx.MockTransport(answer), guard=guard,
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
    # What the receiver said in its body ("boom") is not kept: only the status.
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        DeliveryStatus.FAILED, 3, "HTTP 500")
    assert [r.headers["X-Hall-Attempt"] for r in requests] == ["1", "2", "3"]
    for request in requests:
        assert verify(SECRET, request.content, request.headers["X-Hall-Signature"],
                      request.headers["X-Hall-Timestamp"], now_ms_=T0)
    assert [a.result for a in store.attempts] == [
        DeliveryStatus.PENDING, DeliveryStatus.PENDING, DeliveryStatus.FAILED]


async def test_the_request_goes_to_the_checked_address_under_the_urls_host_name() -> None:
    requests: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(204)

    store, dispatcher, _ = await setup(respond, url="https://platform.test:8443/hook?x=1")
    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
        await dispatcher.run_once(client)
    [request] = requests
    assert str(request.url) == f"https://{PUBLIC}:8443/hook?x=1"
    assert request.headers["Host"] == "platform.test:8443"
    # The TLS server name, and so the certificate check, stay those of the host name.
    assert request.extensions["sni_hostname"] == "platform.test"
    [delivery] = store.deliveries.values()
    assert delivery.status is DeliveryStatus.DELIVERED


async def test_an_answers_body_is_never_stored() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, text="<html>internal admin console: token=abc</html>")

    store, dispatcher, _ = await setup(respond)
    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
        await dispatcher.run_once(client)
    [delivery] = store.deliveries.values()
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == (
        DeliveryStatus.FAILED, 403, "HTTP 403")
    assert [a.error for a in store.attempts] == ["HTTP 403"]


async def test_a_name_that_rebinds_to_loopback_after_registration_gets_nothing() -> None:
    requests: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200)

    dns = Dns(PUBLIC)
    store, dispatcher, clock = await setup(respond, dns=dns)   # registered: public
    dns.answer = "127.0.0.1"                                   # then the DNS answer changes
    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
        assert await dispatcher.run_once(client) == 1
        clock.now += 10**9
        assert await dispatcher.run_once(client) == 0   # refused for good: not retried
    assert requests == []
    [delivery] = store.deliveries.values()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_ms) == (
        DeliveryStatus.FAILED, 1, None)
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("destination_refused: platform.test resolves to "
                                          "127.0.0.1, a loopback address")


async def test_a_lookup_that_fails_at_delivery_is_retried() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    class FlakyDns(Dns):
        down = False

        async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
            if self.down:
                raise OSError(-3, "Temporary failure in name resolution")
            return await super().__call__(host, port)

    dns = FlakyDns()
    store, dispatcher, clock = await setup(respond, dns=dns)
    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
        dns.down = True
        await dispatcher.run_once(client)
        dns.down = False
        [delivery] = store.deliveries.values()
        assert delivery.status is DeliveryStatus.PENDING
        assert (delivery.last_error or "").startswith("dns: platform.test does not resolve")
        clock.now += 1000
        await dispatcher.run_once(client)
    [delivery] = store.deliveries.values()
    assert delivery.status is DeliveryStatus.DELIVERED


async def test_registration_refuses_internal_destinations_and_stores_nothing() -> None:
    store = MemoryCaseStore()
    webhooks = WebhookService(store, guard=DestinationGuard(resolver=Dns("10.0.0.7")))
    for url, reason in (("http://127.0.0.1:9/x", "loopback"),
                        ("http://169.254.169.254/", "metadata"),
                        ("http://platform.test/hook", "private")):
        with pytest.raises(DestinationRefused) as refused:
            await webhooks.register(url, SECRET, "", "ada")
        assert refused.value.reason == reason
    assert await webhooks.list_webhooks() == []
