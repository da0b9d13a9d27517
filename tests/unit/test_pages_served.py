"""The pages are served by the app itself and need nothing from the internet."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from api.pages import STATIC_DIR, mount_pages

PAGES = ["index", "window", "display", "kiosk", "facilities", "device", "stats", "users",
         "notify-rota", "alarm-history", "notify-settings", "alarm-ack", "alarm-rules"]


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = FastAPI()
    mount_pages(app)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize("page", PAGES)
async def test_each_page_is_served_in_chinese_with_every_file_it_loads(
        client: httpx.AsyncClient, page: str) -> None:
    async with client:
        response = await client.get(f"/pages/{page}.html")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert '<html lang="zh-CN">' in response.text
        local = re.findall(r'(?:src|href)="([^"#?]+\.(?:js|css))"', response.text)
        scripts = list(local)
        # ... and the modules those scripts import.
        for name in list(scripts):
            if name.endswith(".js"):
                source = (await client.get(f"/pages/{name}")).text
                scripts += re.findall(r'(?:from|import) "\./([^"]+)"', source)
        for name in set(scripts):
            assert (await client.get(f"/pages/{name}")).status_code == 200, name
        # Its icon in the browser tab (and no 404 for /favicon.ico in the log).
        assert '<link rel="icon" href="favicon.svg" type="image/svg+xml">' in response.text
        icon = await client.get("/pages/favicon.svg")
        assert icon.status_code == 200
        assert icon.headers["content-type"].startswith("image/svg+xml")


async def test_the_root_leads_to_the_pages(client: httpx.AsyncClient) -> None:
    async with client:
        response = await client.get("/")
        assert response.status_code == 307
        assert response.headers["location"] == "/pages/"
        assert "window.html" in (await client.get("/pages/")).text


def test_nothing_is_loaded_from_another_host() -> None:
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        # The SVG namespace is an identifier, never fetched.
        text = text.replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path.name


async def test_unknown_pages_are_404(client: httpx.AsyncClient) -> None:
    async with client:
        assert (await client.get("/pages/nope.html")).status_code == 404
        assert (await client.get("/pages/../app.py")).status_code == 404
