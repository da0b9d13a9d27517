"""A Mosquitto of the test's (or the benchmark's) own with one TLS-only listener, serving
certificates that hall/tls.py generated.

The files are the hall's own (keys 0600, owned by whoever runs the test), so Mosquitto runs as
that user (``user``) instead of dropping to the ``mosquitto`` account, which could not read them.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from devices.broker_address import with_tls_files
from hall.embedded_broker import free_port
from hall.tls import BrokerCertificates
from tests.support.mqtt_fixtures import wait_for_port


class TlsMosquitto:
    """``with TlsMosquitto(certificates) as broker``: ``broker.url`` is ``mqtts://127.0.0.1:PORT``
    with the CA in it; ``require_certificate`` makes clients present one signed by that CA.
    ``extra`` is appended to the config (the shipped delivery options, for the benchmark)."""

    def __init__(self, certificates: BrokerCertificates, *, require_certificate: bool = False,
                 extra: str = "") -> None:
        self.certificates = certificates
        self.port = free_port()
        self.address = f"mqtts://127.0.0.1:{self.port}"
        self.url = with_tls_files(self.address, ca_file=str(certificates.ca_file))
        self._require_certificate = require_certificate
        self._extra = extra
        self._dir = Path(tempfile.mkdtemp(prefix="hall-test-mqtts-"))
        self.log = self._dir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TlsMosquitto:
        c = self.certificates
        conf = self._dir / "mosquitto.conf"
        conf.write_text(
            f"user {getpass.getuser()}\n"
            "allow_anonymous true\n"
            f"log_dest file {self.log}\nlog_type error\nlog_type warning\nlog_type notice\n"
            f"{self._extra}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"cafile {c.ca_file}\ncertfile {c.cert_file}\nkeyfile {c.key_file}\n"
            "tls_version tlsv1.2\n"  # the least accepted; 1.3 is used when both sides can
            f"require_certificate {'true' if self._require_certificate else 'false'}\n",
            encoding="utf-8")
        self._proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
