"""Where webhooks may go, end to end: PostgreSQL, the dispatcher and a real receiver on
127.0.0.1 (the fixtures of test_webhooks_delivery.py). Without the allow-list naming it, or
after a DNS answer rebinds to it, the receiver gets nothing; the connection goes to the address
that was checked, and https still verifies the certificate of the webhook's host name."""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import Callable, Sequence
from ipaddress import ip_address
from pathlib import Path

import httpx
import pytest

from hall_controller.cases.destination_guard import DestinationGuard
from hall_controller.cases.destinations import DestinationPolicy, DestinationRefused, IPAddress
from hall_controller.cases.postgres_store import PostgresCaseStore
from hall_controller.cases.rules import DeliveryStatus
from hall_controller.cases.service import CaseService
from hall_controller.cases.webhooks import WebhookDispatcher, WebhookService
from tests.integration.test_webhooks_delivery import (
    FAST,
    SECRET,
    Receiver,
    Running,
    all_delivered,
    attempts_are,
    case_input,
    case_store,
    local_webhooks,
    start_receiver,
)
from tests.support.waiting import eventually

__all__ = ["case_store", "start_receiver"]  # fixtures, imported to be found
pytestmark = pytest.mark.integration


async def failed_deliveries(store: PostgresCaseStore) -> bool:
    deliveries = await store.list_deliveries()
    return bool(deliveries) and all(d.status is DeliveryStatus.FAILED for d in deliveries)


async def test_without_the_allow_list_a_local_receiver_cannot_be_registered(
    case_store: PostgresCaseStore, start_receiver: Callable[..., Receiver],
) -> None:
    receiver = start_receiver()
    with pytest.raises(DestinationRefused, match=r"127\.0\.0\.1 is a loopback address"):
        await WebhookService(case_store).register(receiver.url, SECRET, "", "ada")
    assert await case_store.list_webhooks() == []


async def test_a_receiver_no_longer_on_the_allow_list_gets_nothing_and_is_not_retried(
    case_store: PostgresCaseStore, start_receiver: Callable[..., Receiver],
) -> None:
    receiver = start_receiver()
    await local_webhooks(case_store).register(receiver.url, SECRET, "", "ada")
    # The admin has since taken 127.0.0.1 off the allow-list: this dispatcher has none.
    dispatcher = WebhookDispatcher(case_store, policy=FAST, poll_interval_s=0.05)
    async with Running(dispatcher):
        await CaseService(case_store).upsert(case_input())
        await eventually(lambda: failed_deliveries(case_store))
        # Five more dispatch rounds, each past a FAST retry interval: none of them retries.
        failed_at = dispatcher.rounds
        await eventually(lambda: dispatcher.rounds >= failed_at + 5)
    [delivery] = await case_store.list_deliveries()
    [attempt] = await case_store.list_attempts(delivery.id)
    assert (attempt.status_code, attempt.result) == (None, DeliveryStatus.FAILED)
    assert (attempt.error or "").startswith("destination_refused: 127.0.0.1 is a loopback")
    assert (delivery.attempts, delivery.next_attempt_ms) == (1, None)
    assert receiver.requests == []


class RebindingDns:
    """An attacker's DNS: a public address while the webhook is registered, then 127.0.0.1
    (where the receiver listens, and what the system itself answers for ``localhost``)."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        self.lookups.append(host)
        if len(self.lookups) == 1:
            return [ip_address("93.184.216.34")]
        return [ip_address("127.0.0.1")]


async def test_a_name_that_rebinds_to_loopback_after_registration_reaches_nothing(
    case_store: PostgresCaseStore, start_receiver: Callable[..., Receiver],
) -> None:
    receiver = start_receiver()
    dns = RebindingDns()
    guard = DestinationGuard(resolver=dns)   # no allow-list
    # "localhost": were the address not checked again, or the connection made to a second
    # lookup's answer, the request would reach the receiver on 127.0.0.1.
    url = f"http://localhost:{receiver.port}/hooks/hall"
    await WebhookService(case_store, guard=guard).register(url, SECRET, "", "ada")
    async with Running(WebhookDispatcher(case_store, guard=guard, policy=FAST,
                                         poll_interval_s=0.05)):
        await CaseService(case_store).upsert(case_input())
        await eventually(lambda: failed_deliveries(case_store))
    [delivery] = await case_store.list_deliveries()
    assert (delivery.last_error or "").startswith(
        "destination_refused: localhost resolves to 127.0.0.1, a loopback address")
    assert delivery.attempts == 1
    assert dns.lookups == ["localhost", "localhost"]
    assert receiver.requests == []


async def test_the_connection_goes_to_the_checked_address_not_to_a_second_lookup(
    case_store: PostgresCaseStore, start_receiver: Callable[..., Receiver],
) -> None:
    """receiver.test resolves only through the guard's resolver (the system knows no such
    name): the delivery arriving proves the request went to the address that was checked."""
    receiver = start_receiver()

    async def campus_dns(host: str, port: int) -> Sequence[IPAddress]:
        assert host == "receiver.test"
        return [ip_address("127.0.0.1")]

    guard = DestinationGuard(DestinationPolicy.allowing(["127.0.0.1"]), resolver=campus_dns)
    url = f"http://receiver.test:{receiver.port}/hooks/hall"
    await WebhookService(case_store, guard=guard).register(url, SECRET, "", "ada")
    async with Running(WebhookDispatcher(case_store, guard=guard, policy=FAST,
                                         poll_interval_s=0.05)):
        await CaseService(case_store).upsert(case_input())
        await eventually(lambda: all_delivered(case_store))
    [request] = receiver.requests
    assert request.headers["Host"] == f"receiver.test:{receiver.port}"
    assert json.loads(request.body)["type"] == "case.created"


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` (and its key), made by the openssl command line."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize(("served_name", "delivered"), [
    ("receiver.test", True),    # the certificate names the webhook's host: verified
    ("other.test", False),      # it does not: the connection is refused, as it should be
])
async def test_https_to_the_checked_address_verifies_the_certificate_of_the_host_name(
    case_store: PostgresCaseStore, start_receiver: Callable[..., Receiver], tmp_path: Path,
    served_name: str, delivered: bool,
) -> None:
    """The connection goes to 127.0.0.1, yet TLS still sends receiver.test as the server name
    and checks the certificate against it (not against the address)."""
    cert, key = self_signed(tmp_path, served_name)
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert, key)
    receiver = start_receiver(tls=serving)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def campus_dns(host: str, port: int) -> Sequence[IPAddress]:
        return [ip_address("127.0.0.1")]

    guard = DestinationGuard(DestinationPolicy.allowing(["127.0.0.1"]), resolver=campus_dns)
    url = f"https://receiver.test:{receiver.port}/hooks/hall"
    await WebhookService(case_store, guard=guard).register(url, SECRET, "", "ada")
    dispatcher = WebhookDispatcher(case_store, guard=guard, policy=FAST, poll_interval_s=0.05,
                                   transport=httpx.AsyncHTTPTransport(verify=trusting))
    async with Running(dispatcher):
        await CaseService(case_store).upsert(case_input())
        if delivered:
            await eventually(lambda: all_delivered(case_store))
        else:
            await eventually(lambda: attempts_are(case_store, 2))
    if delivered:
        [request] = receiver.requests
        assert request.headers["Host"] == f"receiver.test:{receiver.port}"
    else:
        assert receiver.requests == []
        [delivery] = await case_store.list_deliveries()
        assert "CERTIFICATE_VERIFY_FAILED" in (delivery.last_error or "")
