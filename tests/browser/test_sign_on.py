"""Campus sign-on (统一身份认证) in Chromium, against the real OpenID provider
(``oidc-provider``, started by the test) and the test CAS server: the login box's sign-on
button, the provider's login form, the callback, the page with the right person and role,
logout through the provider, and a campus logout ending the hall page's session by the back
channel. Secure, HttpOnly, SameSite=Lax cookies (Chromium takes Secure cookies from
http://127.0.0.1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, ContextBrowser, screenshot
from tests.browser.hall_process import HallProcess
from tests.browser.pages import log_in
from tests.support.cas_server import PASSWORD as CAS_PASSWORD
from tests.support.cas_server import cas_server
from tests.support.idp import TestIdp
from tests.support.sign_on_hall import signed_on_hall


@pytest.fixture
def sso(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[tuple[HallProcess, TestIdp]]:
    with signed_on_hall(broker_url, database_url, tmp_path) as both:
        yield both


async def sign_on(page: Page, idp: TestIdp, login: str) -> None:
    """From the hall's login box through the provider's forms, back to the hall."""
    box = page.locator("#login-form")
    await expect(box.locator("#sign-on")).to_be_visible()
    await box.locator("#sign-on").click()
    await page.wait_for_url(f"{idp.issuer}/interaction/**")
    await page.locator("input[name=login]").fill(login)
    await page.locator("input[name=password]").fill("campus-password")
    await page.get_by_role("button", name="Sign-in").click()
    # First sign-on of this browser at the provider: it asks to share the profile.
    await page.get_by_role("button", name="Continue").click()


async def test_a_clerk_signs_on_works_a_window_and_logs_out_of_the_campus_too(
        sso: tuple[HallProcess, TestIdp], browser: ContextBrowser) -> None:
    hall, idp = sso
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/window.html")
    await expect(page.locator("#sign-on")).to_have_text("统一身份认证登录")
    await expect(page.locator("#login-form")).to_contain_text("本地密码仅限管理员应急使用")
    await screenshot(page, "sign-on-login-box-zh")
    await sign_on(page, idp, "zhang.wei")
    await page.wait_for_url(f"{hall.base}/pages/window.html")
    await expect(page.locator("#login-form")).to_have_count(0)
    await expect(page.locator("#who")).to_have_text("zhang.wei")
    # A change through the cookie session (with its CSRF header): open window 1.
    await page.locator("#window-select").select_option("w1")
    await page.locator("#open").click()
    await expect(page.locator("#close")).to_be_enabled()
    assert hall.call("GET", "/windows/w1")["session"]["clerk"] == "zhang.wei"
    cookies = {c["name"]: c for c in await browser.context.cookies(hall.base)}
    session = cookies["__Host-hall_session"]
    assert (session["httpOnly"], session["secure"], session["sameSite"]) == (True, True, "Lax")
    assert cookies["__Host-hall_csrf"]["httpOnly"] is False
    # No token in the page's storage: nothing a script could carry away.
    assert await page.evaluate("sessionStorage.getItem('hall.token')") is None
    await screenshot(page, "sign-on-window-zh")

    await page.locator("#logout").click()
    await page.wait_for_url(f"{idp.issuer}/session/end**")
    await page.get_by_role("button", name="Yes, sign me out").click()
    await page.wait_for_url(f"{hall.base}/pages/")
    await page.goto(f"{hall.base}/pages/window.html")
    await expect(page.locator("#sign-on")).to_be_visible()
    # Signed out at the provider too: signing on again asks for the campus password.
    await page.locator("#sign-on").click()
    await expect(page.locator("input[name=login]")).to_be_visible()


async def test_a_campus_logout_elsewhere_ends_the_hall_page_session(
        sso: tuple[HallProcess, TestIdp], browser: ContextBrowser) -> None:
    hall, idp = sso
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/window.html")
    # The English switch is behind the login box: choose it as an earlier visit would have.
    await page.evaluate("localStorage.setItem('hall.lang', 'en')")
    await page.reload()
    await expect(page.locator("#sign-on")).to_have_text("Campus sign-on")
    await sign_on(page, idp, "li.na")
    await page.wait_for_url(f"{hall.base}/pages/window.html")
    await expect(page.locator("#who")).to_have_text("li.na")
    # The supervisor acts on another clerk's window (what only admins could before).
    hall.call("POST", "/windows/w2/open")  # the admin holds w2
    await page.locator("#window-select").select_option("w2")
    await expect(page.locator("#take-over")).to_be_visible()

    # The campus portal's logout, in another tab: the provider tells the hall.
    portal = await browser.new_page(LAPTOP)
    await portal.goto(f"{idp.issuer}/session/end")
    await portal.get_by_role("button", name="Yes, sign me out").click()
    await page.reload()
    await expect(page.locator("#sign-on")).to_be_visible()
    await expect(page.locator("#who")).not_to_have_text("li.na")


async def test_refused_sign_ons_say_why_in_the_readers_language(
        sso: tuple[HallProcess, TestIdp], browser: ContextBrowser) -> None:
    hall, idp = sso
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/window.html")
    await sign_on(page, idp, "visitor.x")
    await page.wait_for_url(f"{hall.base}/pages/window.html?sign_on_error=sign_on_no_role")
    await expect(page.locator("#login-error")).to_have_text(
        "您的账号没有本系统的使用权限，请联系管理员")
    await screenshot(page, "sign-on-refused-zh")
    # A student signs on, but the window terminal is staff's: the page says which roles.
    student = await browser.new_page(LAPTOP)
    await student.context.clear_cookies()
    await student.goto(f"{hall.base}/pages/window.html")
    await sign_on(student, idp, "wang.fang")
    await student.wait_for_url(f"{hall.base}/pages/window.html")
    await expect(student.locator("#login-error")).to_contain_text("此页面需要以下角色之一")


async def test_an_admin_disables_a_signed_on_clerk_whose_page_is_refused_at_once(
        sso: tuple[HallProcess, TestIdp], browser: ContextBrowser) -> None:
    hall, idp = sso
    # The admin's break-glass password, in its own tab (a token, which wins over any cookie).
    admin = await browser.new_page(LAPTOP)
    await admin.goto(f"{hall.base}/pages/users.html")
    await log_in(admin, "admin")
    clerk = await browser.new_page(LAPTOP)
    await clerk.goto(f"{hall.base}/pages/window.html")
    await sign_on(clerk, idp, "zhang.wei")
    await expect(clerk.locator("#who")).to_have_text("zhang.wei")

    await admin.reload()
    row = admin.locator("tr[data-account='zhang.wei']")
    await expect(row).to_contain_text("窗口工作人员")
    await expect(row).to_contain_text("T2001")
    await row.get_by_role("button", name="停用").click()
    await expect(row.locator(".state")).to_have_text("已停用")
    await screenshot(admin, "sign-on-accounts-zh")
    await clerk.reload()
    await expect(clerk.locator("#sign-on")).to_be_visible()
    # And the campus account cannot come back in until an admin enables it.
    await clerk.locator("#sign-on").click()
    await clerk.wait_for_url(f"{hall.base}/pages/window.html?sign_on_error=sign_on_disabled")
    await expect(clerk.locator("#login-error")).to_have_text("您的账号已被管理员停用")


async def test_a_clerk_signs_on_through_cas(broker_url: str, database_url: str, tmp_path: Path,
                                             browser: ContextBrowser) -> None:
    with cas_server() as (prefix, state), signed_on_hall(
            broker_url, database_url, tmp_path, cas_url=prefix) as (hall, _):
        page = await browser.new_page(LAPTOP)
        await page.goto(f"{hall.base}/pages/window.html")
        await expect(page.locator("#sign-on-cas")).to_have_text("统一身份认证登录（CAS）")
        await page.locator("#sign-on-cas").click()
        await page.wait_for_url(f"{prefix}/login**")
        await page.locator("input[name=username]").fill("zhang.wei")
        await page.locator("input[name=password]").fill(CAS_PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url(f"{hall.base}/pages/window.html")
        await expect(page.locator("#who")).to_have_text("zhang.wei")
        await page.locator("#logout").click()
        await page.wait_for_url(f"{hall.base}/pages/")
        assert state.sessions == {}   # the CAS session ended too
        await page.goto(f"{hall.base}/pages/window.html")
        await expect(page.locator("#sign-on-cas")).to_be_visible()
