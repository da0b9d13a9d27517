"""The users page: an admin disables a user, and that user's open session is refused at once;
in Chinese (the default) and after the English switch."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, ContextBrowser, screenshot
from tests.browser.hall_process import PASSWORD, HallProcess
from tests.browser.pages import log_in


def refused(hall: HallProcess, token: str) -> int:
    return httpx.get(f"{hall.api}/auth/me", headers={"Authorization": f"Bearer {token}"},
                     timeout=10).status_code


async def session_is_refused(page: Page) -> None:
    """The user's page, reloaded, finds its token refused and asks for a login again."""
    await page.reload()
    await expect(page.locator("#login-form")).to_be_visible()


async def test_an_admin_disables_a_user_whose_session_is_then_refused(
        hall: HallProcess, browser: ContextBrowser) -> None:
    clerk_token = hall.token("clerk1")
    facilities_token = hall.token("fac1")
    clerk_page = await browser.new_page(LAPTOP)
    await clerk_page.goto(f"{hall.base}/pages/window.html")
    await log_in(clerk_page, "clerk1")
    facilities_page = await browser.new_page(LAPTOP)
    await facilities_page.goto(f"{hall.base}/pages/facilities.html")
    await log_in(facilities_page, "fac1")

    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/")
    await page.get_by_role("link", name="用户与密码").click()
    await log_in(page, "admin")
    clerk = page.locator("tr[data-user=clerk1]")
    await expect(clerk.locator(".state")).to_have_text("启用")
    # The admin's own row offers nothing that could lock them out.
    await expect(page.locator("tr[data-user=admin] button")).to_have_count(0)
    await clerk.get_by_role("button", name="停用").click()
    await expect(clerk.locator(".state")).to_have_text("已停用")
    await expect(clerk.get_by_role("button", name="启用")).to_be_visible()
    await screenshot(page, "users-zh")
    assert refused(hall, clerk_token) == 401
    await session_is_refused(clerk_page)

    await page.locator("#lang").click()
    facilities = page.locator("tr[data-user=fac1]")
    await expect(page.locator("#user-admin h2")).to_have_text("Users")
    await expect(facilities.locator(".state")).to_have_text("enabled")
    await facilities.get_by_role("button", name="Disable").click()
    await expect(facilities.locator(".state")).to_have_text("disabled")
    await expect(clerk.get_by_role("button", name="Enable")).to_be_visible()
    await screenshot(page, "users-en")
    assert refused(hall, facilities_token) == 401
    await session_is_refused(facilities_page)
    # Still logged in themself, the admin re-enables the clerk, who logs in again.
    await clerk.get_by_role("button", name="Enable").click()
    await expect(clerk.locator(".state")).to_have_text("enabled")
    await log_in(clerk_page, "clerk1")


async def test_a_user_changes_their_own_password_on_the_page(
        hall: HallProcess, browser: ContextBrowser) -> None:
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/users.html")
    await log_in(page, "clerk1")
    await expect(page.locator("#user-admin")).to_be_hidden()
    form = page.locator("#password-form")
    await form.locator("input[name=current]").fill("not-my-password")
    await form.locator("input[name=new]").fill("a-better-pass-2")
    await form.locator("input[name=repeat]").fill("a-better-pass-2")
    await form.get_by_role("button", name="修改密码").click()
    await expect(page.locator("#password-message")).to_have_text("当前密码错误")

    old_token = hall.token("clerk1")
    await form.locator("input[name=current]").fill(PASSWORD)
    await form.get_by_role("button", name="修改密码").click()
    await expect(page.locator("#password-message")).to_have_text("密码已修改，其他登录已失效")
    assert refused(hall, old_token) == 401
    # The page carries on with its new token.
    await page.reload()
    await expect(page.locator("#password-form")).to_be_visible()
    await expect(page.locator("#login-form")).to_have_count(0)
