"""The API docs (/docs, /redoc) on a campus network without internet: every script, style and
font comes from the hall itself, so the operations are listed with the outside world cut off."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.async_api import Page, Route, expect

from tests.browser.conftest import LAPTOP, ContextBrowser, screenshot
from tests.browser.hall_process import HallProcess

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


async def offline_page(browser: ContextBrowser) -> tuple[Page, list[str]]:
    """A page whose requests to anything but this machine are aborted (and recorded)."""
    page = await browser.new_page(LAPTOP)
    outside: list[str] = []

    async def only_local(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname not in LOCAL_HOSTS:
            outside.append(url)
            await route.abort("internetdisconnected")
        else:
            await route.continue_()

    await page.route("**/*", only_local)
    return page, outside


async def test_swagger_ui_lists_the_operations_without_internet(
        hall: HallProcess, browser: ContextBrowser) -> None:
    page, outside = await offline_page(browser)
    await page.goto(f"{hall.base}/docs")
    # Swagger UI draws one block per operation once its bundle ran and read /openapi.json.
    operations = page.locator(".opblock")
    await expect(operations.first).to_be_visible(timeout=15_000)
    assert await operations.count() > 50
    login = page.locator(".opblock", has_text="/api/v1/auth/token")
    await expect(login.first).to_be_visible()
    await expect(page.locator(".opblock-tag", has_text="access")).to_be_visible()
    # The "Authorize" button: the login scheme was read from the schema.
    await expect(page.locator("button.authorize")).to_be_visible()
    await screenshot(page, "api-docs-offline-1366")
    assert outside == [], f"/docs asked the internet for {outside}"


async def test_redoc_lists_the_operations_without_internet(
        hall: HallProcess, browser: ContextBrowser) -> None:
    page, outside = await offline_page(browser)
    await page.goto(f"{hall.base}/redoc")
    # ReDoc renders a menu entry per tag and a section (h2) per operation.
    await expect(page.get_by_role("menuitem", name="access")).to_be_visible(timeout=15_000)
    await expect(page.locator("h2").filter(has_text=re.compile(r"^Login\s*$"))).to_be_visible()
    await expect(page.locator("h2").filter(has_text=re.compile(r"^Take Remote Ticket\s*$"))
                 ).to_be_attached()
    assert await page.locator("h2").count() > 50
    await screenshot(page, "api-redoc-offline-1366")
    # ReDoc's bundle always asks for the Redocly logo beside "API docs by Redocly" in its menu;
    # the image hides itself when that fails, and nothing else may come from outside.
    assert [url for url in outside if url != REDOCLY_LOGO] == [], \
        f"/redoc asked the internet for {outside}"
