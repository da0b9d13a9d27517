"""The touch kiosk issues a ticket; statistics show it; every page fits a laptop and a TV."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import LAPTOP, TV, ContextBrowser, screenshot
from tests.browser.hall_process import HallProcess
from tests.browser.pages import display_controls, log_in, pair_kiosk


async def test_a_visitor_takes_a_ticket_at_the_touch_kiosk(
        hall: HallProcess, browser: ContextBrowser) -> None:
    # The visitor's campus card is one the hall knows (an unknown one is refused: journey test).
    hall.call("PUT", "/access/persons/p-20230001", json={
        "name": "王芳", "role": "student", "cards": ["C20230001"]})
    page = await browser.new_page(TV)
    await page.goto(f"{hall.base}/pages/kiosk.html")
    # First start: the kiosk is set up once with a pairing code the admin issued.
    await pair_kiosk(page, hall, "kiosk-web-1")

    await page.get_by_role("button", name="学生证办理").click()
    await expect(page.locator("#step-identify")).to_be_visible()
    # A typed person id is not offered: the card reader or QR scanner identifies a visitor.
    await expect(page.get_by_role("button", name="证件号")).to_have_count(0)
    await page.get_by_role("button", name="校园卡").click()
    await page.locator("#id-value").fill("C20230001")
    await page.locator("#id-value").press("Enter")      # as a card reader or scanner types it
    await expect(page.locator("#ticket")).to_be_visible()
    await expect(page.locator("#ticket-number")).to_have_text("A001")
    await expect(page.locator("#ticket-ahead")).to_have_text("前面还有 0 人")
    await expect(page.locator("#ticket-wait")).to_contain_text("预计等候约")
    await screenshot(page, "kiosk-ticket-1080p")
    tickets = hall.call("GET", "/windows/w1", user="admin")["waiting"]
    assert [t["number"] for t in tickets] == ["A001"]

    # The next visitor skips identification; the setup is remembered across reloads.
    await page.get_by_role("button", name="完成").click()
    await page.reload()
    await page.get_by_role("button", name="学生证办理").click()
    await page.get_by_role("button", name="跳过，直接取号").click()
    await expect(page.locator("#ticket-number")).to_have_text("A002")
    await expect(page.locator("#ticket-ahead")).to_have_text("前面还有 1 人")


async def test_statistics_show_the_day_per_service(hall: HallProcess,
                                                   browser: ContextBrowser) -> None:
    hall.take_ticket("transcript")
    hall.call("POST", "/windows/w2/open", user="clerk1")
    hall.call("POST", "/windows/w2/call-next", user="clerk1")
    hall.call("POST", "/windows/w2/no-show", user="clerk1")
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/stats.html")
    await log_in(page, "admin")
    row = page.locator("#rows tr[data-service=transcript]")
    await expect(row).to_be_visible()
    await expect(row.locator("td").nth(1)).to_have_text("1")        # tickets
    await expect(row.locator("td").nth(6)).to_have_text("100%")     # no-show rate
    await expect(page.locator("#waits-chart svg")).to_have_count(1)
    await expect(page.locator("#trend-chart svg rect.bar")).not_to_have_count(0)
    await screenshot(page, "stats-1366")


async def test_a_clerk_cannot_open_the_statistics_page(hall: HallProcess,
                                                       browser: ContextBrowser) -> None:
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/stats.html")
    await page.locator("#login-form input[name=username]").fill("clerk1")
    await page.locator("#login-form input[name=password]").fill("browser-pass-123")
    await page.locator("#login-form button[type=submit]").click()
    await expect(page.locator("#login-error")).to_contain_text("管理员")


PAGES = [("index", None), ("display", None), ("kiosk", None), ("window", "clerk1"),
         ("facilities", "fac1"), ("stats", "admin")]


async def test_every_page_fits_a_laptop_and_a_tv_in_chinese_and_switches_to_english(
        hall: HallProcess, browser: ContextBrowser) -> None:
    for name, user in PAGES:
        for size_name, size in (("1366", LAPTOP), ("1080p", TV)):
            page = await browser.new_page(size)
            await page.goto(f"{hall.base}/pages/{name}.html")
            if user is not None:
                await log_in(page, user)
            assert await page.evaluate("document.documentElement.lang") == "zh-CN"
            body = await page.locator("body").inner_text()
            assert any("\u4e00" <= ch <= "\u9fff" for ch in body), f"{name}: no Chinese text"
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} at {size_name} scrolls sideways by {overflow}px"
            await screenshot(page, f"{name}-{size_name}")
            await page.close()
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/display.html")
    await display_controls(page)   # public: the language button comes after a staff login
    await page.locator("#lang").click()
    assert await page.evaluate("document.documentElement.lang") == "en"
    await expect(page.locator("h2").first).to_have_text("Recent calls")
    await page.close()
    # The choice is remembered (per browser) and another page opens in English.
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/index.html")
    await expect(page.locator("#lang")).to_have_text("中文")
    await page.locator("#lang").click()
    await expect(page.locator("#lang")).to_have_text("English")
