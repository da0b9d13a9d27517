"""Security headers on the API's answers, the pages and the API docs; and pages that need no
inline script, event handler, ``javascript:`` URL or inline style, so that their policy can
forbid all of them. (tests/browser/test_security_policy.py runs the pages under the policy in
Chromium.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from api.pages import STATIC_DIR
from api.security_headers import HSTS_VALUE, PAGE_POLICY
from hall_controller.fleet.memory_store import MemoryStore
from tests.support.api_app import api_services

FIXED = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
         "referrer-policy": "no-referrer"}


def client(*, hsts: bool = False) -> httpx.AsyncClient:
    from api import create_app

    app = create_app(api_services(MemoryStore()), hsts=hsts, max_body_bytes=4096)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hall")


def directives(policy: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in parsed}


def assert_fixed_headers(response: httpx.Response) -> None:
    for name, value in FIXED.items():
        assert response.headers.get(name) == value, (response.url, name)


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/devices", "/openapi.json",
                                  "/pages/", "/pages/kiosk.html", "/pages/common.js",
                                  "/pages/nope.html"])
async def test_api_answers_and_pages_carry_the_headers_and_the_strict_policy(path: str) -> None:
    async with client() as http:
        response = await http.get(path)
    assert_fixed_headers(response)
    assert response.headers["content-security-policy"] == PAGE_POLICY
    policy = directives(PAGE_POLICY)
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"] and policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert "strict-transport-security" not in response.headers


async def test_a_refused_body_carries_the_headers_too() -> None:
    async with client() as http:
        response = await http.post("/api/v1/auth/token", content=b"x" * 5000,
                                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert_fixed_headers(response)
    assert response.headers["content-security-policy"] == PAGE_POLICY


async def test_hsts_only_when_the_app_is_told_tls_is_on() -> None:
    async with client(hsts=True) as http:
        for path in ("/api/v1/health", "/pages/", "/docs"):
            response = await http.get(path)
            assert response.headers["strict-transport-security"] == HSTS_VALUE, path
            assert_fixed_headers(response)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_the_api_docs_allow_their_own_scripts_by_a_fresh_nonce(path: str) -> None:
    async with client() as http:
        first, second = await http.get(path), await http.get(path)
    nonces = []
    for response in (first, second):
        assert response.status_code == 200
        assert_fixed_headers(response)
        policy = directives(response.headers["content-security-policy"])
        [nonce_source] = [v for v in policy["script-src"] if v.startswith("'nonce-")]
        assert policy["script-src"] == ["'self'", nonce_source]
        assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
        nonce = nonce_source.removeprefix("'nonce-").removesuffix("'")
        assert len(nonce) >= 16
        tags = re.findall(r"<script\b[^>]*>", response.text)
        assert tags and all(f'nonce="{nonce}"' in tag for tag in tags), tags
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


async def test_the_docs_still_load_their_bundles_from_the_controller() -> None:
    async with client() as http:
        page = (await http.get("/docs")).text
        for asset in re.findall(r'(?:src|href)="(/static-offline-docs/[^"]+)"', page):
            assert (await http.get(asset)).status_code == 200, asset
        redoc = (await http.get("/redoc")).text
        assert 'src="/static-offline-docs/redoc.standalone.js"' in redoc


class InlineCode(HTMLParser):
    """Collects what a strict policy would block in an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and "src" not in names:
            self.found.append("an inline <script>")
        if tag == "style":
            self.found.append("a <style> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"an event handler {name}=")
            if name == "style":
                self.found.append(f"a style attribute on <{tag}>")
            if value is not None and value.strip().lower().startswith("javascript:"):
                self.found.append(f"a javascript: URL in {name}=")


@pytest.mark.parametrize("page", sorted(p.name for p in STATIC_DIR.glob("*.html")))
def test_no_page_has_inline_code(page: str) -> None:
    parser = InlineCode()
    parser.feed((STATIC_DIR / page).read_text(encoding="utf-8"))
    assert parser.found == []


def test_no_script_writes_inline_handlers_or_styles_into_markup() -> None:
    for script in STATIC_DIR.glob("*.js"):
        source = script.read_text(encoding="utf-8")
        assert not re.search(r"""\son[a-z]+\s*=\s*["'`$]""", source), script.name
        assert not re.search(r"""\sstyle\s*=\s*["'`$]""", source), script.name
        assert "javascript:" not in source.lower(), script.name
        assert not re.search(r"\beval\s*\(|new Function\s*\(", source), script.name
