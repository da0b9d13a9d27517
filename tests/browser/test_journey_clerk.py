"""Issue 19's clerk journey, in Chromium, in both languages at the three screens: log in, open a
window, call, recall, start, complete with pending materials, call again, transfer, close. A
refusal from the server (a window another clerk opened meanwhile) is said in the page's
language; nothing sticks out sideways; a Chinese reader sees no raw code; and the connection
badge, once the server is gone, stays readable (WCAG AA). Then the start page and the users
page at the same screens. One controller and one browser per test."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from itertools import product

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import ContextBrowser
from tests.browser.contrast import assert_contrast_aa
from tests.browser.hall_process import ADMIN_PASSWORD, HallProcess
from tests.browser.journeys import (
    LANGUAGES,
    VIEWPORTS,
    assert_no_horizontal_overflow,
    assert_no_raw_codes,
    screenshot,
)
from tests.browser.pages import live, log_in
from tests.browser.test_queue_pages import file_case
from tests.support.waiting import eventually


@pytest.fixture(autouse=True)
def patient_expectations() -> Iterator[None]:
    """Thirty-odd steps a screen on a shared 2-core machine: give each one 15 s, not 5."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


# What the terminal says, in each language ({t}: a ticket number).
SAYS = {
    "zh-CN": {
        "taken": "3 号窗口已由 clerk2 开启", "called": "已叫 {t}", "recalled": "{t} 已重呼 (1/2)",
        "recall": "重呼 (1/2)", "started": "{t} 开始办理", "pending": "{t} 已办结（待补材料）",
        "transferred": "{t} 已转移到 宿舍事务", "dorm": "宿舍事务", "case_state": "待到场办理",
        "closed": "窗口已关闭",
    },
    "en": {
        "taken": "Window 3 is open by clerk2", "called": "Called {t}", "recalled": "{t} recalled (1/2)",
        "recall": "Recall (1/2)", "started": "{t} being served",
        "pending": "{t} completed (pending materials)",
        "transferred": "{t} transferred to Dormitory affairs", "dorm": "Dormitory affairs",
        "case_state": "awaiting a visit", "closed": "Window closed",
    },
}


async def open_in(browser: ContextBrowser, hall: HallProcess, path: str, language: str,
                  viewport: dict[str, int]) -> Page:
    """A new tab at ``viewport`` showing ``path`` in ``language`` (kept per browser)."""
    page = await browser.new_page(viewport)
    await page.goto(f"{hall.base}{path}")
    await page.evaluate("(l) => localStorage.setItem('hall.lang', l)", "en" if language == "en" else "zh")
    await page.reload()
    return page


async def check(page: Page, where: str, language: str) -> None:
    await assert_no_horizontal_overflow(page, where)
    if language == "zh-CN":
        await assert_no_raw_codes(page, where)


async def clerk_pass(hall: HallProcess, browser: ContextBrowser, n: int, language: str,
                     size: str, viewport: dict[str, int]) -> Page:
    """One walk through the journey; leaves the window closed for the next one."""
    says = SAYS[language]
    where = f"clerk {language} {size}"
    card = f"C2025{n:04d}"
    file_case(hall, f"YW-J{n}", "student-id", f"20250{n:05d}", card,
              [{"code": "photo", "name": "一寸照片"}, {"code": "form", "name": "补办申请表"}])
    first = hall.take_ticket("student-id", identity=("campus_card", card))["ticket"]
    second = hall.take_ticket("student-id")["ticket"]

    page = await open_in(browser, hall, "/pages/window.html", language, viewport)
    lists_read: list[str] = []
    page.on("response", lambda r: lists_read.append(r.url)
            if r.url.endswith("/api/v1/windows") and r.request.method == "GET" else None)
    await log_in(page, "clerk1")
    await live(page)
    # The page reads the window list at its start and again just after its live stream says
    # hello; after that nothing moves here, so the list stays as it was read.
    await eventually(lambda: len(lists_read) >= 2)
    await check(page, f"{where}: logged in", language)

    # The list said window 3 was free; a colleague opened it meanwhile: the server's refusal
    # is said in the page's language, with the window's number and who holds it.
    await page.locator("#window-select").select_option("w3")
    await expect(page.locator("#open")).to_be_enabled()
    hall.call("POST", "/windows/w3/open", user="clerk2")
    await page.locator("#open").click()
    await expect(page.locator("#message")).to_have_text(says["taken"])
    # ... and the page catches up: the list says who holds it, and it cannot be opened.
    await expect(page.locator("#window-select option[value=w3]")).to_contain_text("clerk2")
    await expect(page.locator("#open")).to_be_disabled()
    await check(page, f"{where}: refused", language)
    await screenshot(page, f"journey-clerk-{language}-{size}-refused")
    hall.call("POST", "/windows/w3/close", user="clerk2")

    await page.locator("#window-select").select_option("w1")
    await page.locator("#open").click()
    await expect(page.locator("#terminal")).to_be_visible()

    await expect(page.locator("#act-call")).to_be_enabled()
    await page.keyboard.press("n")
    await expect(page.locator("#message")).to_have_text(says["called"].format(t=first))
    await expect(page.locator("#act-recall")).to_be_enabled()
    # The linked case: its state in words, never "awaiting_visit".
    await expect(page.locator("#cases")).to_contain_text(says["case_state"])
    await check(page, f"{where}: called", language)
    await screenshot(page, f"journey-clerk-{language}-{size}-called")
    await page.keyboard.press("r")
    await expect(page.locator("#message")).to_have_text(says["recalled"].format(t=first))
    await expect(page.locator("#act-recall")).to_contain_text(says["recall"])
    await expect(page.locator("#act-start")).to_be_enabled()
    await page.keyboard.press("s")
    await expect(page.locator("#message")).to_have_text(says["started"].format(t=first))
    await expect(page.locator("#act-pending")).to_be_enabled()   # the page has re-read

    await page.keyboard.press("m")
    dialog = page.locator("#pending-dialog")
    await expect(dialog).to_be_visible()
    await check(page, f"{where}: pending dialog", language)
    await dialog.locator("input[value=一寸照片]").check()
    await page.locator("#pending-confirm").click()
    await expect(page.locator("#message")).to_have_text(says["pending"].format(t=first))

    await expect(page.locator("#act-call")).to_be_enabled()
    await page.keyboard.press("n")
    await expect(page.locator("#current-number")).to_have_text(second)
    await expect(page.locator("#act-transfer")).to_be_enabled()
    await page.keyboard.press("t")
    transfer = page.locator("#transfer-dialog")
    await expect(transfer).to_be_visible()
    await check(page, f"{where}: transfer dialog", language)
    await transfer.get_by_text(says["dorm"]).click()
    await transfer.locator("button[value=confirm]").click()
    await expect(page.locator("#message")).to_have_text(says["transferred"].format(t=second))
    await check(page, f"{where}: transferred", language)
    await screenshot(page, f"journey-clerk-{language}-{size}")

    await expect(page.locator("#close")).to_be_enabled()
    await page.locator("#close").click()
    await page.locator("#close-dialog button[value=confirm]").click()
    await expect(page.locator("#message")).to_have_text(says["closed"])
    await expect(page.locator("#terminal")).to_be_hidden()
    return page


async def test_a_clerk_works_a_window_in_both_languages_at_every_screen(
        hall: HallProcess, browser: ContextBrowser) -> None:
    hall.add_user("clerk2", "clerk")
    last = None
    for n, (language, (size, viewport)) in enumerate(product(LANGUAGES, VIEWPORTS.items())):
        if last is not None:
            await last.close()
        last = await clerk_pass(hall, browser, n, language, size, viewport)
    assert last is not None

    # The server goes away: the badge and the banner say so, and both stay readable at their
    # faintest (the badge used to blink down to 3.7:1).
    await last.evaluate("() => localStorage.setItem('hall.lang', 'zh')")
    await last.reload()
    await live(last)
    hall.stop(signal.SIGKILL)
    badge = last.locator("#live-status")
    await expect(badge).to_have_attribute("data-state", "reconnecting", timeout=15_000)
    await expect(badge).to_have_text("连接中断，正在重新连接…")
    await expect(last.locator("#offline-banner")).to_be_visible()
    badge_ratio = await assert_contrast_aa(badge, "offline badge")
    banner_ratio = await assert_contrast_aa(last.locator("#offline-banner"), "offline banner")
    print(f"offline badge contrast {badge_ratio:.2f}:1, banner {banner_ratio:.2f}:1")
    await check(last, "clerk offline", "zh-CN")
    await screenshot(last, "journey-clerk-offline")


async def test_the_start_page_and_the_users_page_fit_every_screen_in_both_languages(
        hall: HallProcess, browser: ContextBrowser) -> None:
    refusal = {"zh-CN": "密码不能包含用户名", "en": "A password must not contain the username"}
    for language, (size, viewport) in product(LANGUAGES, VIEWPORTS.items()):
        where = f"{language} {size}"
        start = await open_in(browser, hall, "/pages/", language, viewport)
        await expect(start.locator("h1")).to_have_text("服务大厅" if language == "zh-CN" else "Service hall")
        await check(start, f"start page {where}", language)
        await screenshot(start, f"journey-index-{language}-{size}")
        await start.close()

        users = await open_in(browser, hall, "/pages/users.html", language, viewport)
        await log_in(users, "admin")
        await expect(users.locator("#users tr[data-user=clerk1]")).to_be_visible()
        # A refusal by the server's password rules, in the page's language.
        form = users.locator("#password-form")
        await form.locator("input[name=current]").fill(ADMIN_PASSWORD)
        await form.locator("input[name=new]").fill("my-admin-pass-2")
        await form.locator("input[name=repeat]").fill("my-admin-pass-2")
        await form.locator("button[type=submit]").click()
        await expect(users.locator("#password-message")).to_have_text(refusal[language])
        await check(users, f"users page {where}", language)
        await screenshot(users, f"journey-users-{language}-{size}")
        await users.close()
