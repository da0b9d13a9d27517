"""Steps the browser tests share: logging in on a page, waiting for the live badge."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.hall_process import ADMIN_PASSWORD, PASSWORD


async def log_in(page: Page, user: str) -> None:
    """Fill the login form the page shows and wait for it to go."""
    form = page.locator("#login-form")
    await expect(form).to_be_visible()
    await form.locator("input[name=username]").fill(user)
    await form.locator("input[name=password]").fill(ADMIN_PASSWORD if user == "admin" else PASSWORD)
    await form.locator("button[type=submit]").click()
    await expect(form).to_have_count(0)


async def live(page: Page, timeout_ms: float = 10_000) -> None:
    """The page's live stream is connected."""
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live",
                                                                 timeout=timeout_ms)
