"""Where webhooks may go: the address rule over many addresses, the allow-list, URL parsing,
and the guard that resolves a host and refuses it if any address it answers is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from ipaddress import ip_address

import pytest

from hall_controller.cases.destination_guard import DestinationGuard
from hall_controller.cases.destinations import (
    DestinationPolicy,
    DestinationRefused,
    DestinationUnresolved,
    Endpoint,
    IPAddress,
    webhook_endpoint,
)

NO_ALLOW_LIST = DestinationPolicy()


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("169.254.1.1", "link_local"),
    ("fe80::1", "link_local"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.10", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("100.64.0.1", "carrier_grade_nat"),
    ("100.127.255.254", "carrier_grade_nat"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "private"),          # reserved 240/4 (Python counts it private too)
    ("255.255.255.255", "private"),
    ("192.0.2.1", "private"),          # documentation ranges are not routable either
    ("2001:db8::1", "private"),
    # IPv6 forms that reach an IPv4 address are judged by the address they reach.
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("64:ff9b::7f00:1", "loopback"),    # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
    ("2002:7f00:1::1", "loopback"),     # 6to4 of 127.0.0.1
    ("2002:c0a8:101::1", "private"),    # 6to4 of 192.168.1.1
])
def test_internal_addresses_are_refused_with_their_reason(address: str, reason: str) -> None:
    assert NO_ALLOW_LIST.refusal(ip_address(address)) == reason


@pytest.mark.parametrize("address", [
    "93.184.216.34", "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "169.255.0.1",
    "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34", "64:ff9b::5db8:d822",
])
def test_public_addresses_are_allowed(address: str) -> None:
    assert NO_ALLOW_LIST.refusal(ip_address(address)) is None


def test_the_allow_list_opens_what_it_names_and_nothing_else() -> None:
    policy = DestinationPolicy.allowing(["127.0.0.1/32", "10.2.0.0/16", "fd00:1::/64"])
    for allowed in ("127.0.0.1", "::ffff:127.0.0.1", "10.2.9.9", "fd00:1::5"):
        assert policy.refusal(ip_address(allowed)) is None, allowed
    assert policy.refusal(ip_address("127.0.0.2")) == "loopback"
    assert policy.refusal(ip_address("10.3.0.1")) == "private"
    assert policy.refusal(ip_address("::1")) == "loopback"
    assert policy.refusal(ip_address("93.184.216.34")) is None


def test_a_broad_entry_does_not_open_the_metadata_service_but_naming_it_does() -> None:
    broad = DestinationPolicy.allowing(["169.254.0.0/16", "100.64.0.0/10", "fd00::/8"])
    assert broad.refusal(ip_address("169.254.1.1")) is None
    assert broad.refusal(ip_address("100.64.0.1")) is None
    for metadata in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254"):
        assert broad.refusal(ip_address(metadata)) == "metadata"
    named = DestinationPolicy.allowing(["169.254.169.254"])
    assert named.refusal(ip_address("169.254.169.254")) is None


def test_a_malformed_allow_list_entry_is_refused() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.1/8"):
        DestinationPolicy.allowing(["10.0.0.1/8"])   # host bits set: probably a typo
    with pytest.raises(ValueError):
        DestinationPolicy.allowing(["intranet.example"])


@pytest.mark.parametrize(("url", "endpoint"), [
    ("http://Platform.Example/hook", Endpoint("http", "platform.example", 80)),
    ("https://platform.example/hook", Endpoint("https", "platform.example", 443)),
    ("https://platform.example:8443/h?x=1", Endpoint("https", "platform.example", 8443)),
    ("http://[::1]:9/x", Endpoint("http", "::1", 9)),
])
def test_a_webhook_url_is_parsed_to_what_it_connects_to(url: str, endpoint: Endpoint) -> None:
    assert webhook_endpoint(url) == endpoint


@pytest.mark.parametrize("url", ["ftp://platform.example/x", "http:///x", "platform.example",
                                 "http://platform.example:99999/"])
def test_a_url_that_is_not_http_with_a_host_is_refused(url: str) -> None:
    with pytest.raises(DestinationRefused) as refused:
        webhook_endpoint(url)
    assert refused.value.reason == "bad_url"


def answering(*addresses: str) -> tuple[list[str], DestinationGuard]:
    asked: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[IPAddress]:
        asked.append(f"{host}:{port}")
        return [ip_address(a) for a in addresses]

    return asked, DestinationGuard(NO_ALLOW_LIST, resolver=resolve)


async def test_the_guard_resolves_and_returns_the_checked_addresses() -> None:
    asked, guard = answering("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    checked = await guard.check("https://platform.example/hook")
    assert asked == ["platform.example:443"]
    assert checked.address == ip_address("93.184.216.34")
    assert len(checked.addresses) == 2


async def test_one_internal_answer_among_public_ones_refuses_the_host() -> None:
    _, guard = answering("93.184.216.34", "127.0.0.1")
    with pytest.raises(DestinationRefused, match=r"platform.example resolves to 127\.0\.0\.1, "
                                                 r"a loopback address") as refused:
        await guard.check("http://platform.example/hook")
    assert refused.value.reason == "loopback"


async def test_an_address_in_the_url_is_checked_without_a_lookup() -> None:
    asked, guard = answering("93.184.216.34")
    with pytest.raises(DestinationRefused, match=r"169\.254\.169\.254 is a cloud metadata address"):
        await guard.check("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(DestinationRefused, match="loopback"):
        await guard.check("http://[::ffff:127.0.0.1]:8080/")
    assert asked == []


async def test_a_host_that_does_not_resolve_is_unresolved() -> None:
    async def fail(host: str, port: int) -> Sequence[IPAddress]:
        raise OSError(-2, "Name or service not known")

    with pytest.raises(DestinationUnresolved, match=r"nowhere\.example"):
        await DestinationGuard(resolver=fail).check("http://nowhere.example/")
    _, empty = answering()
    with pytest.raises(DestinationUnresolved):
        await empty.check("http://nowhere.example/")


async def test_a_lookup_that_never_answers_is_unresolved_in_time() -> None:
    async def hang(host: str, port: int) -> Sequence[IPAddress]:
        await asyncio.sleep(60)
        return []

    guard = DestinationGuard(resolver=hang, lookup_timeout_s=0.05)
    with pytest.raises(DestinationUnresolved, match="timed out"):
        await guard.check("http://slow.example/")


async def test_the_system_resolver_reads_localhost_and_the_default_policy_refuses_it() -> None:
    with pytest.raises(DestinationRefused) as refused:
        await DestinationGuard().check("http://localhost:9/x")
    assert refused.value.reason == "loopback"
