"""Where the MQTT broker listens, who we are to it and how the link is protected, parsed from
one ``mqtt://`` or ``mqtts://`` URL.

The edge agents, the controller's bus and the config all read broker URLs; this is the one
parser, so they accept and refuse the same URLs for the same reasons.

TLS travels in the URL too, so that one string says everything a client needs wherever it is
passed (``mqtts://host:8883?ca=/etc/hall/ca.crt&cert=dev.crt&key=dev.key``): ``ca`` is the CA
file the broker's certificate must chain to (absent: the system's trust store), ``cert`` and
``key`` an optional client certificate. An ``mqtts://`` URL is TLS or nothing: its default
port is 8883 and nothing ever retries it as plain TCP.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

DEFAULT_MQTT_PORT = 1883
DEFAULT_MQTTS_PORT = 8883
PLAIN_SCHEMES = ("mqtt", "tcp")
TLS_SCHEMES = ("mqtts", "ssl")
_TLS_PARAMETERS = ("ca", "cert", "key")


class InvalidBrokerUrl(ValueError):
    """A broker URL that is not ``mqtt[s]://[user:pass@]host[:port][?ca=&cert=&key=]``;
    ``problem`` says what is wrong without repeating the URL (for messages that show it)."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"invalid broker URL {url!r}: {problem}")
        self.problem = problem


class BrokerTlsError(ValueError):
    """The TLS files of a broker URL cannot be used (missing, unreadable, key not matching)."""


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """How a client protects its link to the broker: the CA it trusts (None: the system's
    store) and an optional client certificate with its key. Verification is always on and
    the broker's certificate must name the host the client dialled."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """A client context: certificate and host name checked, TLS 1.2 at least."""
        for what, path in (("CA", self.ca_file), ("client certificate", self.cert_file),
                           ("client key", self.key_file)):
            if path is not None and not Path(path).is_file():
                raise BrokerTlsError(f"broker TLS: the {what} file {path} does not exist")
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
            if self.cert_file is not None:
                context.load_cert_chain(self.cert_file, self.key_file)
        except (ssl.SSLError, OSError) as exc:
            raise BrokerTlsError(f"broker TLS: cannot load the CA ({self.ca_file}) or client "
                                 f"certificate ({self.cert_file}, {self.key_file}): {exc}") from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker listens, who we are to it and, for ``mqtts://``, the TLS to use."""

    host: str
    port: int = DEFAULT_MQTT_PORT
    username: str | None = None
    password: str | None = None
    tls: BrokerTls | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse an ``mqtt://``/``tcp://`` or ``mqtts://``/``ssl://`` URL; raises
        InvalidBrokerUrl naming what is wrong."""
        parts = urlsplit(url)
        secure = parts.scheme in TLS_SCHEMES
        if not (secure or parts.scheme in PLAIN_SCHEMES) or not parts.hostname:
            raise InvalidBrokerUrl(url, "expected mqtt://[user:pass@]host[:port] or "
                                        "mqtts://[user:pass@]host[:port][?ca=FILE]")
        try:
            port = parts.port or (DEFAULT_MQTTS_PORT if secure else DEFAULT_MQTT_PORT)
        except ValueError:
            raise InvalidBrokerUrl(url, "expected a numeric port in mqtt://host:port") from None
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(parts.hostname, port, username, password, _tls_of(url, parts.query, secure))

    @property
    def scheme(self) -> str:
        return "mqtts" if self.tls is not None else "mqtt"

    @property
    def display(self) -> str:
        """``mqtts://host:port`` without credentials or files: for logs and messages."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client TLS context for this address, or None for plain MQTT."""
        return self.tls.ssl_context() if self.tls is not None else None


def _tls_of(url: str, query: str, secure: bool) -> BrokerTls | None:
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise InvalidBrokerUrl(url, "expected ?ca=FILE&cert=FILE&key=FILE after the address") from None
    unknown = sorted(set(params) - set(_TLS_PARAMETERS))
    if unknown:
        raise InvalidBrokerUrl(url, f"unknown parameter(s) {', '.join(unknown)}; "
                                    "known: ca, cert, key")
    if any(len(values) > 1 or not values[0] for values in params.values()):
        raise InvalidBrokerUrl(url, "each of ca, cert and key is one non-empty file path")
    files = {name: values[0] for name, values in params.items()}
    if not secure:
        if files:
            raise InvalidBrokerUrl(url, "TLS files given for plain mqtt://; use mqtts://")
        return None
    if ("cert" in files) != ("key" in files):
        raise InvalidBrokerUrl(url, "a client certificate needs its key: give both cert and key")
    return BrokerTls(files.get("ca"), files.get("cert"), files.get("key"))


def with_tls_files(url: str, *, ca_file: str = "", cert_file: str = "", key_file: str = "") -> str:
    """``url`` with the given TLS files added as its ``ca``/``cert``/``key`` parameters (a
    parameter the URL names already is kept); empty files are left out."""
    parts = urlsplit(url)
    present = parse_qs(parts.query)
    extra = {name: path for name, path in (("ca", ca_file), ("cert", cert_file),
                                            ("key", key_file)) if path and name not in present}
    if not extra:
        return url
    query = "&".join(filter(None, [parts.query, urlencode(extra, quote_via=quote, safe="/")]))
    return parts._replace(query=query).geturl()


def is_tls_failure(error: BaseException) -> bool:
    """Whether a connection error (aiomqtt keeps only the text of the ``ssl`` error it wraps)
    is a TLS failure: a certificate not trusted, expired or not naming the host, a handshake
    refused."""
    text = str(error)
    return isinstance(error, ssl.SSLError) or "SSL" in text or "certificate" in text
