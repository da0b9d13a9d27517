"""Steps the browser tests share: logging in on a page, waiting for the live badge, pairing a
browser kiosk, the display's staff controls."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.hall_process import ADMIN_PASSWORD, PASSWORD, HallProcess


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


async def pair_kiosk(page: Page, hall: HallProcess, device_id: str) -> None:
    """Set up a browser kiosk as an admin would: a pairing code typed on its setup screen."""
    code = hall.call("POST", "/kiosk/pairing-codes", json={"device_id": device_id})["code"]
    await expect(page.locator("#setup")).to_be_visible()
    await page.locator("#setup-form input[name=code]").fill(code)
    await page.locator("#setup-form button[type=submit]").click()
    await expect(page.locator("#step-service")).to_be_visible()


async def display_controls(page: Page, user: str = "clerk1") -> None:
    """The public display's staff controls: double-click, log in."""
    await page.dblclick("body")
    await log_in(page, user)
    await expect(page.locator("#staff-controls")).to_be_visible()
