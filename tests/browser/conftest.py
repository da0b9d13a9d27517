"""Browser tests: Debian's Chromium driven by playwright against a real ``hall controller``
subprocess on the real Mosquitto and a fresh PostgreSQL database.

Playwright never downloads a browser here: it launches /usr/bin/chromium
(``HALL_TEST_CHROMIUM`` to override); ``scripts/ensure-browser`` installs it. A missing
browser fails the tests. Screenshots go to ``test-artifacts/screenshots/`` (git-ignored; CI
keeps the folder).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, ConsoleMessage, Page, async_playwright

from hall.embedded_broker import free_port
from tests.browser.hall_process import ROOT, HallProcess

CHROMIUM = os.environ.get("HALL_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
    # A hall TV plays the chime without anyone clicking first (kiosk-mode browsers are started
    # with the same flag).
    "--autoplay-policy=no-user-gesture-required",
]
LAPTOP = {"width": 1366, "height": 768}
TV = {"width": 1920, "height": 1080}


@pytest.fixture
def hall(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[HallProcess]:
    """A running controller with a clerk (``clerk1``) and a facilities user (``fac1``)."""
    prefix = f"browser-{uuid.uuid4().hex[:8]}/hall/v1"
    process = HallProcess(mqtt_url=broker_url, database_url=database_url, prefix=prefix,
                          port=free_port(), data_dir=tmp_path / "data", log=tmp_path / "hall.log")
    process.start()
    try:
        process.add_user("clerk1", "clerk")
        process.add_user("fac1", "facilities")
        yield process
    finally:
        process.stop()


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[ContextBrowser]:
    """Headless Chromium with a profile of its own, deleted afterwards."""
    if not Path(CHROMIUM).is_file():  # noqa: ASYNC240 - one stat before any test runs
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run scripts/ensure-browser",
                    pytrace=False)
    profile = Path(tempfile.mkdtemp(prefix="hall-chromium-"))
    try:
        async with async_playwright() as playwright:
            # A persistent context is how playwright takes a user-data-dir of our own.
            context = await playwright.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
                viewport=LAPTOP, locale="zh-CN")
            yield ContextBrowser(context)
            await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[ContextBrowser]:
    async with chromium() as started:
        yield started


class ContextBrowser:
    """Pages of one browser profile, like tabs: they share localStorage (language, the kiosk's
    key) but each has its own sessionStorage, so each tab logs in by itself."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context

    async def new_page(self, viewport: dict[str, int] | None = None) -> Page:
        page = await self.context.new_page()
        if viewport is not None:
            await page.set_viewport_size(viewport)  # type: ignore[arg-type]
        page.on("pageerror", lambda error: _page_errors.append(f"{page.url}: {error}"))
        page.on("console", lambda message: _note_policy_violation(page, message))
        return page


_page_errors: list[str] = []


def _note_policy_violation(page: Page, message: ConsoleMessage) -> None:
    """Chromium reports what a Content-Security-Policy blocked on the console ("Refused to
    execute inline script because it violates the following Content Security Policy
    directive ..."). The pages (``/pages/``) must never need what their policy forbids; the API
    docs have their own test (test_security_policy.py)."""
    if "/pages/" in page.url and "Content Security Policy" in message.text:
        _page_errors.append(f"{page.url}: {message.text}")


@pytest.fixture(autouse=True)
def no_page_errors() -> Iterator[list[str]]:
    """Fails a test whose pages threw an uncaught JavaScript error or broke their
    Content-Security-Policy."""
    _page_errors.clear()
    yield _page_errors
    assert not _page_errors, "JavaScript errors:\n" + "\n".join(_page_errors)


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path
