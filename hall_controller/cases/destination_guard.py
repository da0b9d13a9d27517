"""Resolving a webhook's host and checking every address it resolves to (``destinations``).

Used twice: when an admin registers a webhook (a refused URL is never stored), and again before
every delivery attempt, because a DNS answer can change after registration (DNS rebinding: a
name that resolved to a public address at registration answers 127.0.0.1 later). The
dispatcher then connects to the very address checked here, never to a second lookup's answer
(see ``WebhookDispatcher``), so nothing can change between the check and the connection.

The resolver is injectable: tests answer with chosen addresses, and production uses the
system's (``getaddrinfo``, which also reads /etc/hosts).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address

from hall_controller.cases.destinations import (
    DestinationPolicy,
    DestinationUnresolved,
    Endpoint,
    IPAddress,
    literal_address,
    webhook_endpoint,
)

Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to for a TCP connection, in the system's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ip_address(str(sockaddr[0]))
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True, slots=True)
class CheckedDestination:
    """A webhook URL's endpoint and the addresses it resolved to, every one of them allowed;
    connect to ``address``."""

    endpoint: Endpoint
    addresses: tuple[IPAddress, ...]

    @property
    def address(self) -> IPAddress:
        return self.addresses[0]


class DestinationGuard:
    """Resolves a webhook URL's host and refuses it if ANY address is refused (a name that
    answers one public and one internal address must not get through on a lucky pick)."""

    def __init__(self, policy: DestinationPolicy | None = None, *,
                 resolver: Resolver = system_resolver, lookup_timeout_s: float = 10.0) -> None:
        self.policy = policy or DestinationPolicy()
        self._resolver = resolver
        self._lookup_timeout_s = lookup_timeout_s

    async def check(self, url: str) -> CheckedDestination:
        """Raises DestinationRefused (a bad URL or a refused address) or DestinationUnresolved."""
        endpoint = webhook_endpoint(url)
        literal = literal_address(endpoint.host)
        if literal is not None:
            addresses: Sequence[IPAddress] = (literal,)
        else:
            try:
                # A DNS server that never answers must not hold an admin's request forever.
                async with asyncio.timeout(self._lookup_timeout_s):
                    addresses = await self._resolver(endpoint.host, endpoint.port)
            except TimeoutError:
                raise DestinationUnresolved(f"looking up {endpoint.host} timed out") from None
            except (OSError, UnicodeError) as exc:   # socket.gaierror is an OSError
                raise DestinationUnresolved(
                    f"{endpoint.host} does not resolve: {exc}") from None
            if not addresses:
                raise DestinationUnresolved(f"{endpoint.host} resolves to no address")
        for address in addresses:
            self.policy.check(address, endpoint.host)
        return CheckedDestination(endpoint, tuple(addresses))
