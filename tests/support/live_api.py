"""A running ``hall controller`` (the real composition root: every route mounted) on the test
broker and a database of the module's own, for tests that talk to the HTTP API as a client
would: the parameter bounds and schemathesis over the live OpenAPI.

Webhooks registered by such tests must never reach the internet, so the controller's HTTP
client is pointed at a proxy on a local port where nothing listens: every delivery that
passes the destination check fails at once with "connection refused". (Registering a webhook,
and each delivery, resolves its host name to refuse internal addresses; only the name is
looked up, and the request itself still goes only to the dead proxy.)
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hall.embedded_broker import free_port
from tests.browser.hall_process import ADMIN_PASSWORD, HallProcess
from tests.support.db_fixtures import create_database, drop_database, dsn_for_database

__all__ = ["ADMIN_PASSWORD", "LiveApi", "live_api", "running_live_api"]
DEAD_PROXY = "http://127.0.0.1:9"   # the discard port: nothing listens there


class LiveApi:
    """The running hall and an admin's bearer token."""

    def __init__(self, process: HallProcess) -> None:
        self.process = process
        self.base = process.base
        self.api = process.api
        self.headers = {"Authorization": f"Bearer {process.token()}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.api}{path}", headers=self.headers, timeout=30,
                             **kwargs)

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the controller's log without its warnings (the failed webhook deliveries
        are many): the tracebacks of 500s land there."""
        lines = self.process.log.read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if " WARNING " not in line)[-chars:]


@contextlib.contextmanager
def running_live_api(broker_url: str, pg_server_url: str, folder: Path, *,
                     config_toml: str | None = None) -> Iterator[LiveApi]:
    """A controller + API on a database of its own, dropped afterwards. ``config_toml``: the
    config file it reads instead of the repository's config.toml (defaults for the rest)."""
    database = create_database(pg_server_url, "hall_api")
    config = None
    if config_toml is not None:
        config = folder / "config.toml"
        config.write_text(config_toml, encoding="utf-8")
    process = HallProcess(mqtt_url=broker_url,
                          database_url=dsn_for_database(pg_server_url, database),
                          prefix=f"api-{uuid.uuid4().hex[:8]}/hall/v1", port=free_port(),
                          data_dir=folder / "data", log=folder / "hall.log", config=config)
    # Lower-case names win over upper-case ones in httpx's (urllib's) proxy lookup.
    process.env.update(http_proxy=DEAD_PROXY, https_proxy=DEAD_PROXY, all_proxy=DEAD_PROXY,
                       no_proxy="")
    try:
        process.start()
        yield LiveApi(process)
    finally:
        process.stop()
        drop_database(pg_server_url, database)


@pytest.fixture(scope="module")
def live_api(session_broker_url: str, pg_server_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """One controller + API for the module (it starts in seconds; tests share it). It
    migrates its empty database itself at start, as ``hall controller`` does anywhere."""
    with running_live_api(session_broker_url, pg_server_url,
                          tmp_path_factory.mktemp("live-api")) as api:
        yield api
