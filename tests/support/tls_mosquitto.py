"""A Mosquitto of the test's (or the benchmark's) own with one TLS-only listener, serving
certificates that hall/tls.py generated.

The files are the hall's own (keys 0600, owned by whoever runs the test), so Mosquitto runs as
that user (``user``) instead of dropping to the ``mosquitto`` account, which could not read them.
"""

from __future__ import annotations

import getpass

from devices.broker_address import with_tls_files
from hall.tls import BrokerCertificates
from tests.support.private_mosquitto import PrivateMosquitto


class TlsMosquitto(PrivateMosquitto):
    """``with TlsMosquitto(certificates) as broker``: ``broker.url`` is ``mqtts://127.0.0.1:PORT``
    with the CA in it; ``require_certificate`` makes clients present one signed by that CA.
    ``extra`` is appended to the config (the shipped delivery options, for the benchmark)."""

    def __init__(self, certificates: BrokerCertificates, *, require_certificate: bool = False,
                 extra: str = "") -> None:
        super().__init__("hall-test-mqtts-")
        self.certificates = certificates
        self.address = f"mqtts://127.0.0.1:{self.port}"
        self.url = with_tls_files(self.address, ca_file=str(certificates.ca_file))
        self._require_certificate = require_certificate
        self._extra = extra

    def config(self) -> str:
        c = self.certificates
        return (f"user {getpass.getuser()}\n"
                "allow_anonymous true\n"
                f"log_dest file {self.log}\nlog_type error\nlog_type warning\nlog_type notice\n"
                f"{self._extra}\n"
                f"listener {self.port} 127.0.0.1\n"
                f"cafile {c.ca_file}\ncertfile {c.cert_file}\nkeyfile {c.key_file}\n"
                "tls_version tlsv1.2\n"  # the least accepted; 1.3 is used when both sides can
                f"require_certificate {'true' if self._require_certificate else 'false'}\n")

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
