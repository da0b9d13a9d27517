"""Request body limits against the real app behind a real uvicorn, spoken to over raw sockets:
an oversized body is refused before any route, dependency or password hash runs; a chunked
body is cut off as soon as it passes the limit; a body that stalls gets a 408; ordinary
requests, uploads within their own limit and a long-lived event stream are untouched.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio
import uvicorn
from argon2 import PasswordHasher

from hall.embedded_broker import free_port
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import Role, User
from hall_controller.live.hub import LiveHub, LiveNotice
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.service import ensure_user
from tests.support.api_app import api_services
from tests.support.raw_http import chunk, login_head, raw_exchange
from tests.support.waiting import eventually
from tests.unit.api_support import SECRET

MAX_BODY = 64 * 1024
MAX_UPLOAD = 256 * 1024
TIMEOUT_S = 1.0
PASSWORD = "limits-pass-123"


class CountingHasher(PasswordHasher):
    """argon2 at its cheapest, counting the passwords it checks."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


class CountingUsers(MemoryUserStore):
    """Counts the user lookups a login makes."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def get_user(self, username: str) -> User | None:
        self.lookups += 1
        return await super().get_user(username)


@dataclass
class Served:
    port: int
    users: CountingUsers
    hasher: CountingHasher
    hub: LiveHub

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def untouched(self) -> bool:
        return self.users.lookups == 0 and self.hasher.verified == 0


@pytest_asyncio.fixture
async def served() -> AsyncIterator[Served]:
    from api import Authenticator, AuthSettings, create_app

    users, hasher, hub = CountingUsers(), CountingHasher(), LiveHub()
    await ensure_user(users, "ada", PASSWORD, Role.ADMIN, hasher=hasher)
    auth = Authenticator(AuthSettings(secret=SECRET, token_ttl_s=600), users, hasher=hasher)
    app = create_app(api_services(MemoryStore(), hub, auth=auth, users=users),
                     max_body_bytes=MAX_BODY, max_upload_bytes=MAX_UPLOAD,
                     body_timeout_s=TIMEOUT_S)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                           log_level="warning"))
    task = asyncio.create_task(server.serve(), name="uvicorn")
    await eventually(lambda: server.started or task.done(), what="uvicorn to listen")
    assert server.started, "uvicorn did not start"
    users.lookups = hasher.verified = 0      # what setting up counted
    try:
        yield Served(port, users, hasher, hub)
    finally:
        hub.close()
        server.should_exit = True
        await task


async def test_an_oversized_login_is_refused_before_any_user_is_looked_up_or_hashed(
        served: Served) -> None:
    status, headers, body = await raw_exchange(
        served.port, login_head(f"Content-Length: {50 * 1024 * 1024}"))
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert "limit of 65536 bytes" in json.loads(body)["detail"]
    assert json.loads(body)["code"] == "request.too_large"  # the pages say it in words
    # A client that asks before sending is refused without being asked for the body.
    status, _, _ = await raw_exchange(
        served.port, login_head(f"Content-Length: {MAX_BODY + 1}", extra="Expect: 100-continue\n"))
    assert status == 413
    assert served.untouched()

    # The same login within the limit is looked up and its password checked.
    async with httpx.AsyncClient(base_url=served.base) as client:
        reply = await client.post("/api/v1/auth/token",
                                  data={"username": "ada", "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    assert served.users.lookups == 1 and served.hasher.verified == 1


async def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit(served: Served) -> None:
    filler = b"username=ada&password=" + b"x" * (16 * 1024 - 22)
    parts = [chunk(filler)] + [chunk(b"x" * (16 * 1024))] * 3    # exactly the limit: allowed
    started = time.monotonic()
    status, headers, body = await raw_exchange(
        served.port, login_head("Transfer-Encoding: chunked"), *parts, chunk(b"x"))
    assert time.monotonic() - started < TIMEOUT_S      # not the deadline: the 65 537th byte
    assert (status, headers["connection"]) == (413, "close")
    assert "limit" in json.loads(body)["detail"]
    assert served.untouched()


async def test_a_body_that_stalls_gets_408_and_nothing_runs(served: Served) -> None:
    started = time.monotonic()
    status, headers, body = await raw_exchange(
        served.port, login_head("Content-Length: 1000"), b"username=ada&password=" + b"x" * 400,
        timeout_s=TIMEOUT_S + 5)
    waited = time.monotonic() - started
    assert (status, headers["connection"]) == (408, "close")
    assert "did not arrive within 1 s" in json.loads(body)["detail"]
    assert json.loads(body)["code"] == "request.timeout"
    assert TIMEOUT_S - 0.05 <= waited < TIMEOUT_S + 2
    # Chunked, stalling after the first chunk: the same.
    status, _, _ = await raw_exchange(served.port, login_head("Transfer-Encoding: chunked"),
                                      chunk(b"username=ada"), timeout_s=TIMEOUT_S + 5)
    assert status == 408
    assert served.untouched()


async def test_an_upload_gets_the_upload_limit_and_ordinary_bodies_the_small_one(
        served: Served) -> None:
    padding = b"p" * (MAX_BODY * 2)           # over the body limit, within the upload limit
    async with httpx.AsyncClient(base_url=served.base) as client:
        multipart = await client.post(
            "/api/v1/auth/token", data={"username": "ada", "password": PASSWORD},
            files={"attachment": ("padding.bin", padding, "application/octet-stream")})
        assert multipart.status_code == 200, multipart.text
        token = multipart.json()["access_token"]
        # JSON within the limit reaches its route as before (which knows no such device).
        reply = await client.post("/api/v1/devices/nope/commands",
                                  headers={"Authorization": f"Bearer {token}"},
                                  json={"method": "display.show",
                                        "params": {"text": "x" * (MAX_BODY // 2)}})
        assert reply.status_code == 404, reply.text
    # The same amount of text as a form, or more than the upload limit as multipart: 413.
    status, _, _ = await raw_exchange(served.port, login_head(f"Content-Length: {len(padding)}"))
    assert status == 413
    status, _, _ = await raw_exchange(served.port, login_head(
        f"Content-Length: {MAX_UPLOAD + 1}", "multipart/form-data; boundary=b"))
    assert status == 413


async def test_an_event_stream_outlives_the_body_deadline(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.base, timeout=10) as client, \
            client.stream("GET", "/api/v1/live/display") as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        await asyncio.sleep(TIMEOUT_S * 2)        # long past the body deadline
        ticket = {"ticket_id": uuid.uuid4().hex, "number": "A001", "window_id": "w1"}
        served.hub.publish(LiveNotice("ticket", ticket))
        async for line in lines:
            if line.startswith("data:") and "A001" in line:
                break
