"""Login throttling through the real app: lockouts per user and per client address (429 with
Retry-After, the same for names that exist and names that do not), the ``auth.lockout`` alarm
staff see, and the cap on concurrent password hashes (503 with Retry-After past the wait)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
from argon2 import PasswordHasher
from fastapi import FastAPI

from api import Authenticator, AuthSettings
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import Role
from hall_controller.users.lockout_alarms import LOCKOUT_ALARM
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.rules import ThrottlePolicy
from hall_controller.users.service import HashSlots, ensure_user
from tests.support.api_app import api_app
from tests.unit.api_support import FAST_HASHER, SECRET

PASSWORDS = {"ada": "admin-pass-1", "fay": "facilities-pass", "cleo": "clerk-pass-1"}
ROLES = {"ada": Role.ADMIN, "fay": Role.FACILITIES, "cleo": Role.CLERK}
TOKEN = "/api/v1/auth/token"
# The test's clock starts at the real time, so the tokens it issues are valid.
START = float(int(time.time()))


class CountingHasher(PasswordHasher):
    """argon2 at its cheapest, slowed down by ``delay_s``, counting verifications and how
    many ran at once."""

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.delay_s = delay_s
        self.verified = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.verified += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delay_s)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


class Hall:
    """The app over memory stores, with a clock the test moves, reached from any address."""

    def __init__(self, hasher: PasswordHasher, *, hash_slots: HashSlots | None = None,
                 throttle: ThrottlePolicy | None = None) -> None:
        self.now = START
        self.store = MemoryStore()
        self.users = MemoryUserStore()
        self.auth = Authenticator(AuthSettings(secret=SECRET), self.users, hasher=hasher,
                                  clock=lambda: self.now, throttle=throttle,
                                  hash_slots=hash_slots)
        self.app: FastAPI = api_app(self.store, auth=self.auth, users=self.users)

    async def seed(self) -> None:
        for name, password in PASSWORDS.items():
            await ensure_user(self.users, name, password, ROLES[name], hasher=FAST_HASHER)

    @asynccontextmanager
    async def client(self, address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://hall.test") as client:
            yield client


async def login(client: httpx.AsyncClient, username: str, password: str | None = None,
                ) -> httpx.Response:
    return await client.post(TOKEN, data={"username": username,
                                          "password": password or PASSWORDS[username]})


async def hall_with(hasher: PasswordHasher | None = None, **kwargs: object) -> Hall:
    hall = Hall(hasher or CountingHasher(), **kwargs)  # type: ignore[arg-type]
    await hall.seed()
    return hall


async def test_five_wrong_passwords_lock_the_user_even_against_the_right_one() -> None:
    hall = await hall_with()
    async with hall.client("10.0.0.1") as client:
        for _ in range(5):
            assert (await login(client, "ada", "guess")).status_code == 401
        hall.now += 10
        refused = await login(client, "ada")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "50"
        assert refused.json() == {"detail": "too many failed logins; try again in 50 s",
                                  "code": "auth.login_locked", "params": {"retry_after_s": 50}}
        # Once the lockout has run out, the right password works again.
        hall.now += 50
        assert (await login(client, "ada")).status_code == 200


async def test_a_locked_attempt_is_refused_without_hashing_and_tells_nothing() -> None:
    hasher = CountingHasher()
    hall = await hall_with(hasher)
    async with hall.client("10.0.0.1") as one, hall.client("10.0.0.2") as two:
        for _ in range(5):
            await login(one, "ada", "guess")
            await login(two, "nobody-by-this-name", "guess")
        verified = hasher.verified
        existing = await login(one, "ada")
        missing = await login(two, "nobody-by-this-name", "guess")
    assert hasher.verified == verified
    assert existing.status_code == missing.status_code == 429
    assert existing.json() == missing.json()
    assert existing.headers["retry-after"] == missing.headers["retry-after"]


async def test_many_names_from_one_address_lock_the_address() -> None:
    hall = await hall_with()  # the default limits: 20 failures per address
    async with hall.client("10.0.0.1") as sprayer, hall.client("10.0.0.2") as elsewhere:
        for n in range(19):
            assert (await login(sprayer, f"name-{n}", "Winter2026!")).status_code == 401
        # Nineteen names, each tried once: nobody is locked yet, fay logs in.
        assert (await login(sprayer, "fay")).status_code == 200
        assert (await login(sprayer, "name-19", "Winter2026!")).status_code == 401
        # The twentieth failure locked the address: fay, right password and all, is refused
        # there, and logs in from anywhere else.
        refused = await login(sprayer, "fay")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "60"
        assert (await login(elsewhere, "fay")).status_code == 200


async def test_a_user_locked_from_one_address_is_locked_from_another() -> None:
    hall = await hall_with()
    async with hall.client("10.0.0.1") as attacker, hall.client("10.0.0.2") as office:
        for _ in range(5):
            await login(attacker, "ada", "guess")
        assert (await login(office, "ada")).status_code == 429
        # The address of the office is not locked: others log in from it.
        assert (await login(office, "cleo")).status_code == 200


async def test_the_lockout_grows_and_staff_see_it_as_an_alarm() -> None:
    hall = await hall_with()
    async with hall.client("10.0.0.1") as attacker, hall.client("10.0.0.2") as office:
        # Logged in now: a token issued at the test's later times would not be valid yet.
        fay = (await login(office, "fay")).json()["access_token"]
        for _ in range(5):
            await login(attacker, "ada", "guess")
        hall.now += 60  # the first lockout (60 s) is over
        for _ in range(5):
            await login(office, "ada", "guess")
        second = await login(office, "ada")
        assert second.headers["retry-after"] == "120"

        reply = await office.get("/api/v1/alarms", headers={"Authorization": f"Bearer {fay}"})
    assert reply.status_code == 200
    [alarm] = [a for a in reply.json() if a["type"] == LOCKOUT_ALARM]
    assert alarm["device_id"] == "controller"
    assert alarm["count"] == 2
    details = alarm["details"]
    assert {k: details[k] for k in ("locked", "username", "client", "failures", "lockout")} == {
        "locked": "user", "username": "ada", "client": "10.0.0.2", "failures": 5, "lockout": 2}
    assert details["locked_until_ms"] == round((START + 60 + 120) * 1000)
    assert details["locked_until"] == datetime.fromtimestamp(START + 180, UTC).isoformat()


async def test_concurrent_logins_never_run_more_hashes_than_the_cap() -> None:
    hasher = CountingHasher(delay_s=0.05)
    hall = await hall_with(hasher, hash_slots=HashSlots(size=1, wait_s=10))
    clients = [hall.client(f"10.0.1.{n}") for n in range(6)]
    entered = [await c.__aenter__() for c in clients]
    try:
        replies = await asyncio.gather(*(login(c, "cleo") for c in entered))
    finally:
        for c in clients:
            await c.__aexit__(None, None, None)
    assert [r.status_code for r in replies] == [200] * 6
    assert hasher.verified == 6
    assert hasher.most_at_once == 1


async def test_a_login_that_waits_too_long_for_a_hash_gets_503() -> None:
    hasher = CountingHasher(delay_s=0.5)
    hall = await hall_with(hasher, hash_slots=HashSlots(size=1, wait_s=0.1))
    async with hall.client("10.0.0.1") as one, hall.client("10.0.0.2") as two:
        replies = await asyncio.gather(login(one, "cleo"), login(two, "fay"))
        # Whichever reaches the one slot first is hashed; the other waits past 0.1 s.
        assert sorted(r.status_code for r in replies) == [200, 503]
        busy = next(r for r in replies if r.status_code == 503)
        assert busy.headers["retry-after"] == "1"
        assert busy.json() == {"detail": "too many logins at once; try again shortly",
                               "code": "auth.busy", "params": {"retry_after_s": 1}}
        assert hasher.verified == 1
        # A busy refusal is no failed guess: the refused user's count is untouched, and they
        # get in.
        client, user = (one, "cleo") if replies[0] is busy else (two, "fay")
        assert (await login(client, user)).status_code == 200


async def test_guesses_waiting_for_a_hash_are_refused_once_the_user_is_locked() -> None:
    hasher = CountingHasher(delay_s=0.02)
    hall = await hall_with(hasher, hash_slots=HashSlots(size=1, wait_s=10))
    async with hall.client("10.0.0.1") as attacker:
        # Eight guesses at once all pass the first check; they queue for the one slot.
        replies = await asyncio.gather(*(login(attacker, "ada", f"guess-{n}") for n in range(8)))
    assert sorted(r.status_code for r in replies) == [401] * 5 + [429] * 3
    assert hasher.verified == 5


async def test_a_cancelled_login_keeps_its_slot_until_its_hash_ends() -> None:
    hasher = CountingHasher(delay_s=0.3)
    hall = await hall_with(hasher, hash_slots=HashSlots(size=1, wait_s=10))
    # A client that goes away mid-hash: its request is cancelled, its thread runs on.
    gone = asyncio.create_task(hall.auth.authenticate("cleo", PASSWORDS["cleo"], "10.0.0.1"))
    while hasher.running == 0:  # noqa: ASYNC110 - set from the hashing thread
        await asyncio.sleep(0.01)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    await hall.auth.authenticate("fay", PASSWORDS["fay"], "10.0.0.2")
    assert hasher.verified == 2
    assert hasher.most_at_once == 1
