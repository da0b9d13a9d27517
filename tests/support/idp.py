"""The sign-on tests' identity provider: the certified ``oidc-provider`` (npm, pinned by
tests/idp/package-lock.json, installed by scripts/ensure-idp) run with node as a subprocess,
configured by ``tests/idp/server.mjs``. A missing node or package fails the test (never a
skip): the sign-on is only tested against a real provider.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.waiting import eventually_blocking

ROOT = Path(__file__).resolve().parents[2]
IDP_DIR = ROOT / "tests" / "idp"
CLIENT_ID = "service-hall"
CLIENT_SECRET = "hall-test-client-secret-0123456789abcdef"

# People at the campus provider; any password is accepted by its (development) login form.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "zhang.wei": {"preferred_username": "zhang.wei", "name": "张伟", "groups": ["hall-clerks"],
                  "人员类别": "教职工", "department": "教务处", "email": "zhang.wei@campus.edu",
                  "email_verified": True, "student_id": "T2001"},
    "li.na": {"preferred_username": "li.na", "name": "李娜",
              "groups": ["hall-supervisors", "hall-clerks"], "人员类别": "教职工",
              "email": "li.na@campus.edu", "email_verified": True, "student_id": "T2002"},
    "wang.fang": {"preferred_username": "wang.fang", "name": "王芳", "groups": [],
                  "人员类别": "本科生", "email": "wang.fang@campus.edu", "email_verified": True,
                  "student_id": "S2024001"},
    "visitor.x": {"preferred_username": "visitor.x", "groups": ["library-only"],
                  "人员类别": "校友", "email": "x@alumni.edu", "email_verified": False},
    "admin": {"preferred_username": "admin", "groups": ["hall-clerks"], "人员类别": "教职工"},
}

# The [sign_on] tables a hall uses with this provider.
MAPPING_TOML = """
[[sign_on.mapping]]
claim = "groups"
values = ["hall-admins"]
role = "admin"

[[sign_on.mapping]]
claim = "groups"
values = ["hall-supervisors"]
role = "supervisor"

[[sign_on.mapping]]
claim = "groups"
values = ["hall-clerks"]
role = "clerk"

[[sign_on.mapping]]
claim = "人员类别"
values = ["教职工"]
person_kind = "staff"

[[sign_on.mapping]]
claim = "人员类别"
values = ["本科生", "研究生"]
person_kind = "student"
"""


# The hall refetches the provider's keys at most this often (its defence against made-up key
# ids); a rotation sooner after its last fetch is, by that rule, not followed yet.
JWKS_REFETCH_S = 1


def sign_on_toml(issuer: str, hall_url: str, *, local_login: str = "everyone") -> str:
    return f"""
[sign_on]
local_login = "{local_login}"
public_url = "{hall_url}"
person_id_claim = "student_id"
{MAPPING_TOML}
[sign_on.oidc]
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
# A restarted provider (a key rotation) is followed within a second.
jwks_refetch_interval_s = {JWKS_REFETCH_S}
"""


class TestIdp:
    """``oidc-provider`` on ``port`` for the hall at ``hall_url``, signing with key ``kid``."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, port: int, hall_url: str, work: Path, kid: str = "key-1") -> None:
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self.hall_url = hall_url
        self.kid = kid
        self.log = work / "idp.log"
        self.accounts_file = work / "idp-accounts.json"
        self.accounts_file.write_text(json.dumps(ACCOUNTS, ensure_ascii=False), encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> TestIdp:
        node = shutil.which("node")
        if node is None or not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            raise AssertionError("the test identity provider is not installed: run "
                                 "scripts/ensure-idp (make test does)")
        env = {**os.environ, "IDP_PORT": str(self.port), "IDP_HALL": self.hall_url,
               "IDP_KID": self.kid, "IDP_ACCOUNTS": str(self.accounts_file),
               "IDP_CLIENT_SECRET": CLIENT_SECRET}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([node, "server.mjs"], cwd=IDP_DIR, env=env,
                                         stdout=out, stderr=subprocess.STDOUT)
        proc = self.proc

        def serving() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the test IdP exited with {proc.returncode}:\n"
                                     + self.log.read_text(errors="replace")[-3000:])
            url = f"{self.issuer}/.well-known/openid-configuration"
            return httpx.get(url, timeout=1).status_code == 200
        eventually_blocking(serving, 20, "the test IdP serving", ignore=(httpx.HTTPError,))
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def change_account(self, login: str, **claims: Any) -> None:
        """Change what the directory says about ``login``; the provider reads it at its next
        start (``restart_with_key``)."""
        accounts = json.loads(self.accounts_file.read_text(encoding="utf-8"))
        accounts[login].update(claims)
        self.accounts_file.write_text(json.dumps(accounts, ensure_ascii=False), encoding="utf-8")

    def restart_with_key(self, kid: str) -> None:
        """Stop and start again with a new signing key: a key rotation (and its sessions gone).

        Returns no sooner than the hall's refetch interval after the stop began: the hall
        fetched the old keys before that, and may fetch again only once the interval is over
        (a fast restart on an idle machine came back within it, and the next sign-in failed)."""
        began = time.monotonic()
        self.stop()
        self.kid = kid
        self.start()
        time.sleep(max(0.0, JWKS_REFETCH_S + 0.2 - (time.monotonic() - began)))

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
