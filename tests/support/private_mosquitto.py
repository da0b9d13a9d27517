"""A Mosquitto process of a test's (or a benchmark's) own, in a throwaway folder: started with
the config text a subclass writes, on a free port, killed and cleaned up on exit."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from hall.embedded_broker import free_port
from tests.support.mqtt_fixtures import wait_for_port


class PrivateMosquitto:
    """``with Subclass(...) as broker``: ``config()`` is the mosquitto.conf to run with;
    ``log`` is where it should log (``log_dest file``)."""

    def __init__(self, prefix: str) -> None:
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.log = self._dir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        raise NotImplementedError

    def __enter__(self) -> Self:
        conf = self._dir / "mosquitto.conf"
        conf.write_text(self.config(), encoding="utf-8")
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
