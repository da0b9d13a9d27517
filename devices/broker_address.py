"""Where the MQTT broker listens and who we are to it, parsed from one ``mqtt://`` URL.

The edge agents, the controller's bus and the config all read broker URLs; this is the one
parser, so they accept and refuse the same URLs for the same reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_MQTT_PORT = 1883


class InvalidBrokerUrl(ValueError):
    """A broker URL that is not ``mqtt://[user:pass@]host[:port]``; ``problem`` says what is
    wrong without repeating the URL (for messages that show it already)."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"invalid broker URL {url!r}: {problem}")
        self.problem = problem


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker listens and who we are to it, parsed from ``mqtt://user:pass@host:port``."""

    host: str
    port: int = DEFAULT_MQTT_PORT
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse an ``mqtt://`` (or ``tcp://``) URL; raises InvalidBrokerUrl naming what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise InvalidBrokerUrl(url, "expected mqtt://[user:pass@]host[:port]")
        try:
            port = parts.port or DEFAULT_MQTT_PORT
        except ValueError:
            raise InvalidBrokerUrl(url, "expected a numeric port in mqtt://host:port") from None
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(parts.hostname, port, username, password)
