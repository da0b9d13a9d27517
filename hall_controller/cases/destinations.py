"""Where a webhook may send: the pure rule that keeps deliveries off the hall's own network.

A webhook URL is chosen by whoever holds an admin login, and the controller POSTs to it from
inside the campus network. Left open, that lets a stolen admin session (or a careless one) use
the controller to reach what only the inside can reach: the database, the broker's admin
port, other hosts on 10/8, and above all the cloud metadata service, which hands out the
machine's credentials (server-side request forgery). So an address is refused when it is
loopback, unspecified, link-local, private, carrier-grade NAT (100.64/10), multicast, reserved
or otherwise not globally routable, and always when it is a cloud metadata address.
IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``,
6to4 ``2002::/16``) are judged by the IPv4 address they reach.

An internal receiver is allowed by naming it in the admin's allow-list (config
``[integration] webhook_allow``, networks or single addresses). A metadata address is allowed
only when the list names that very address: a broad entry such as ``169.254.0.0/16`` or
``100.64.0.0/10`` does not open the metadata service by accident.

This module decides on addresses only; ``destination_guard`` resolves names and applies it at
registration and again at every connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from urllib.parse import urlsplit

from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import HallError

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# AWS, GCP and Azure answer on 169.254.169.254, AWS over IPv6 on fd00:ec2::254, Alibaba Cloud on
# 100.100.100.200 (inside carrier-grade NAT space, so CGNAT is refused as a whole too).
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
_CARRIER_GRADE_NAT = ip_network("100.64.0.0/10")
_NAT64 = ip_network("64:ff9b::/96")
DEFAULT_PORTS = {"http": 80, "https": 443}


class DestinationRefused(HallError):
    """A webhook URL, or an address its host resolves to, is not a place the hall sends to."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, code=ErrorCode.INVALID)
        self.reason = reason   # a short code: "loopback", "metadata", "bad_url", ...


class DestinationUnresolved(HallError):
    """The webhook's host name does not resolve (now); nothing was checked or sent."""

    default_code = ErrorCode.INVALID  # the webhook route answers both as a 422 naming "url"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a webhook URL connects to."""

    scheme: str
    host: str    # lower case, without IPv6 brackets
    port: int


def webhook_endpoint(url: str) -> Endpoint:
    """The scheme, host and port of ``url``; raises DestinationRefused ("bad_url") unless it
    is an absolute http or https URL with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused("bad_url", f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise DestinationRefused("bad_url", "the webhook URL must be http or https")
    if not parts.hostname:
        raise DestinationRefused("bad_url", "the webhook URL has no host")
    return Endpoint(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an address when it is one (no lookup needed), else None."""
    try:
        return ip_address(host)
    except ValueError:
        return None


def reached_address(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 transition form carries, else ``address`` itself."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return IPv4Address(int(address) & 0xFFFF_FFFF)
    return address


def address_category(address: IPAddress) -> str | None:
    """Why ``address`` is off limits without the allow-list (a short code), or None when it
    is an ordinary public address."""
    target = reached_address(address)
    if address in METADATA_ADDRESSES or target in METADATA_ADDRESSES:
        return "metadata"
    checks = (
        ("unspecified", target.is_unspecified),
        ("loopback", target.is_loopback),
        ("link_local", target.is_link_local),
        ("carrier_grade_nat", target in _CARRIER_GRADE_NAT),
        ("multicast", target.is_multicast),
        ("private", target.is_private),
        ("reserved", target.is_reserved),
        ("not_global", not target.is_global),
    )
    return next((reason for reason, hit in checks if hit), None)


_DESCRIPTIONS = {
    "metadata": "a cloud metadata address",
    "unspecified": "the unspecified address",
    "loopback": "a loopback address",
    "link_local": "a link-local address",
    "carrier_grade_nat": "a carrier-grade NAT address",
    "multicast": "a multicast address",
    "private": "a private address",
    "reserved": "a reserved address",
    "not_global": "not a globally routable address",
}


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """The rule above, with the admin's allow-list."""

    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def allowing(cls, entries: Iterable[str]) -> DestinationPolicy:
        """A policy allowing these networks or addresses ("10.2.0.0/16", "127.0.0.1");
        raises ValueError naming a malformed entry."""
        return cls(tuple(ip_network(entry.strip()) for entry in entries))

    def refusal(self, address: IPAddress) -> str | None:
        """None when the hall may send to ``address``, else the reason (a short code)."""
        reason = address_category(address)
        if reason is None or self._allowed(address, reason):
            return None
        return reason

    def check(self, address: IPAddress, host: str) -> None:
        """Raises DestinationRefused when ``address`` (which ``host`` resolved to) is refused."""
        reason = self.refusal(address)
        if reason is not None:
            named = f"{host} is" if literal_address(host) == address \
                else f"{host} resolves to {address},"
            raise DestinationRefused(reason, f"{named} {_DESCRIPTIONS[reason]}")

    def _allowed(self, address: IPAddress, reason: str) -> bool:
        forms = {address, reached_address(address)}
        if reason == "metadata":
            return any(network.num_addresses == 1 and network.network_address in forms
                       for network in self.allow)
        return any(form in network for form in forms for network in self.allow)
