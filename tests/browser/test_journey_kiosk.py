"""The visitor at the kiosk, as issue 19 walked it: an admin pairs a new browser kiosk with a
one-time code (no curl), the kiosk is listed with the devices, a visitor takes a ticket and is
told which windows serve it, an unknown card is said so, the kiosk returns to Chinese when left
alone, and an outage shows a banner, never a browser error. In Chinese and English at the three
viewports, with no horizontal overflow, no raw code, and touch-sized targets."""

from __future__ import annotations

import re

import httpx
import psycopg
from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, ContextBrowser
from tests.browser.hall_process import HallProcess
from tests.browser.journeys import (
    VIEWPORTS,
    assert_no_horizontal_overflow,
    assert_no_raw_codes,
    screenshot,
)
from tests.browser.pages import log_in

# What the kiosk's API says to a program; a visitor must never read any of it.
SERVER_WORDS = ("/api/", "pairing_code", "not_set_up", "identity.unknown", "Failed to fetch",
                "kiosk key")


async def assert_visitor_text(page: Page, where: str) -> None:
    text = await page.locator("body").inner_text()
    assert not [w for w in SERVER_WORDS if w in text], f"{where}: server words shown: {text!r}"
    if await page.evaluate("document.documentElement.lang") == "zh-CN":
        await assert_no_raw_codes(page, where)


async def assert_touch_sized(page: Page, where: str) -> None:
    """Every visible button is at least 48 × 48 px."""
    small = await page.evaluate("""() => [...document.querySelectorAll('button')]
        .filter((b) => b.offsetParent !== null)
        .map((b) => ({text: b.textContent.trim(), box: b.getBoundingClientRect()}))
        .filter((b) => b.box.width < 48 || b.box.height < 48)
        .map((b) => `${b.text} ${Math.round(b.box.width)}x${Math.round(b.box.height)}`)""")
    assert not small, f"{where}: buttons smaller than 48 px: {small}"


async def check(page: Page, name: str) -> None:
    await assert_no_horizontal_overflow(page, name)
    await assert_visitor_text(page, name)
    await assert_touch_sized(page, name)
    await screenshot(page, name)


async def set_language(page: Page, language: str) -> None:
    if await page.evaluate("document.documentElement.lang") != language:
        await page.locator("#lang").click()
    await expect(page.locator("html")).to_have_attribute("lang", language)


async def pair(kiosk: Page, code: str) -> None:
    await kiosk.locator("#setup-form input[name=code]").fill(code)
    await kiosk.locator("#setup-form button[type=submit]").click()


async def test_the_visitor_at_the_kiosk_in_both_languages_at_every_viewport(
        hall: HallProcess, browser: ContextBrowser) -> None:
    # Someone the hall knows: their card identifies them at the kiosk.
    hall.call("PUT", "/access/persons/p-li", json={
        "name": "李明", "role": "student", "cards": ["C20230001"]})

    # The admin makes a pairing code on the users page.
    admin = await browser.new_page(LAPTOP)
    await admin.goto(f"{hall.base}/pages/users.html")
    await log_in(admin, "admin")
    section = admin.locator("#kiosk-admin")
    await section.locator("input[name=device]").fill("kiosk-lobby-1")
    await section.locator("input[name=name]").fill("一楼大厅")
    await section.get_by_role("button", name="生成配对码").click()
    await expect(admin.locator("#kiosk-paired")).to_be_visible()
    code = (await admin.locator("#kiosk-code").text_content() or "").strip()
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", code), code
    await expect(admin.locator("#pairing-codes tr[data-device=kiosk-lobby-1]")).to_contain_text("待使用")
    await screenshot(admin, "journey-kiosk-pairing-code-zh")

    kiosk = await browser.new_page(VIEWPORTS["1080x1920"])
    await kiosk.goto(f"{hall.base}/pages/kiosk.html")
    await expect(kiosk.locator("#setup")).to_be_visible()
    await expect(kiosk.locator("#connection")).to_have_text("已连接")
    await check(kiosk, "journey-kiosk-setup-1080x1920-zh-CN")
    # A wrong code, then the right one as a person might type it (lower case, a space).
    await pair(kiosk, "ZZZZ-ZZZZ")
    await expect(kiosk.locator("#message")).to_have_text("配对码不正确，请核对后重新输入。")
    await assert_visitor_text(kiosk, "a wrong pairing code")
    await pair(kiosk, code.lower().replace("-", " "))
    await expect(kiosk.locator("#step-service")).to_be_visible()
    await expect(kiosk.locator("#message")).to_contain_text("配对成功")
    assert await kiosk.evaluate("localStorage.getItem('hall.kiosk.device')") == "kiosk-lobby-1"

    # The same code again, on a kiosk that forgot its key: used, said in words.
    await kiosk.evaluate("localStorage.removeItem('hall.kiosk.key')")
    await kiosk.reload()
    await pair(kiosk, code)
    await expect(kiosk.locator("#message")).to_have_text("该配对码已经使用过，请管理员重新生成。")
    await admin.reload()
    used = admin.locator("#pairing-codes tr[data-device=kiosk-lobby-1]")
    await expect(used.locator(".state")).to_contain_text("已使用")
    await expect(used).to_contain_text("127.0.0.1")
    # A code not used within its 10 minutes (its expiry moved back, as time would).
    late = hall.call("POST", "/kiosk/pairing-codes", json={"device_id": "kiosk-lobby-1"})["code"]
    async with await psycopg.AsyncConnection.connect(hall.env["HALL_DATABASE_URL"],
                                                     autocommit=True) as db:
        await db.execute("UPDATE kiosk_pairing_codes SET expires_at = now() - interval '1 s' "
                         "WHERE used_at IS NULL")
    await pair(kiosk, late)
    await expect(kiosk.locator("#message")).to_have_text(
        "配对码已过期（有效期 10 分钟），请管理员重新生成。")
    second = hall.call("POST", "/kiosk/pairing-codes", json={"device_id": "kiosk-lobby-1",
                                                            "name": "一楼大厅"})["code"]
    await pair(kiosk, second)
    await expect(kiosk.locator("#step-service")).to_be_visible()

    # The browser kiosk is a kiosk in the device list, online while it checks in.
    devices = hall.call("GET", "/devices?kind=kiosk", user="fac1")
    listed = {d["device_id"]: d for d in devices}
    assert listed["kiosk-lobby-1"]["online"] and listed["kiosk-lobby-1"]["site"] == "一楼大厅"
    facilities = await browser.new_page(LAPTOP)
    await facilities.goto(f"{hall.base}/pages/facilities.html")
    await log_in(facilities, "fac1")
    await expect(facilities.locator("tr[data-device=kiosk-lobby-1]")).to_have_attribute(
        "data-online", "true")
    await facilities.close()

    # No way out to the staff pages from the kiosk.
    await expect(kiosk.locator("a")).to_have_count(0)

    numbers = []
    for language in ("zh-CN", "en"):
        for size, viewport in VIEWPORTS.items():
            await kiosk.set_viewport_size(viewport)  # type: ignore[arg-type]
            await set_language(kiosk, language)
            where = f"journey-kiosk-{size}-{language}"
            await check(kiosk, f"{where}-services")
            await kiosk.locator("#services button[data-service=student-id]").click()
            await expect(kiosk.locator("#step-identify")).to_be_visible()
            await check(kiosk, f"{where}-identify")
            await kiosk.locator("#skip").click()
            await expect(kiosk.locator("#ticket")).to_be_visible()
            numbers.append(await kiosk.locator("#ticket-number").text_content())
            windows = kiosk.locator("#ticket-windows")
            if language == "zh-CN":
                # w1 prefers student-id, w2 serves it too (config.toml).
                await expect(windows).to_have_text(
                    "请留意叫号屏和语音叫号，听到号码后前往：1 号窗口、2 号窗口")
            else:
                await expect(windows).to_contain_text("Window 1, Window 2")
            await check(kiosk, f"{where}-ticket")
            await kiosk.locator("#again").click()
            await expect(kiosk.locator("#step-service")).to_be_visible()
    assert len(set(numbers)) == 6, numbers

    # An unknown card is told so; no ticket is issued until the visitor chooses.
    await kiosk.set_viewport_size(VIEWPORTS["1080x1920"])
    await set_language(kiosk, "zh-CN")
    waiting = len(hall.call("GET", "/windows/w1", user="admin")["waiting"])
    await kiosk.locator("#services button[data-service=student-id]").click()
    # A reader that typed garbage (longer than any card or code): said in words, no ticket.
    await kiosk.locator("#id-value").fill("X" * 200)
    await kiosk.locator("#id-value").press("Enter")
    await expect(kiosk.locator("#message")).to_have_text(
        "无法识别此校园卡或二维码，请重新刷卡，或跳过直接取号。")
    await kiosk.locator("#id-value").fill("C99999999")
    await kiosk.locator("#id-value").press("Enter")
    await expect(kiosk.locator("#unknown-id")).to_be_visible()
    await expect(kiosk.locator("#unknown-id")).to_contain_text("未找到与此校园卡或二维码对应的人员信息")
    await check(kiosk, "journey-kiosk-unknown-card-1080x1920-zh-CN")
    assert len(hall.call("GET", "/windows/w1", user="admin")["waiting"]) == waiting
    await kiosk.get_by_role("button", name="重新刷卡").click()
    await kiosk.locator("#id-value").fill("C20230001")   # a known card: identified
    await kiosk.locator("#id-value").press("Enter")
    await expect(kiosk.locator("#ticket")).to_be_visible()
    await kiosk.locator("#again").click()
    await kiosk.locator("#services button[data-service=student-id]").click()
    await kiosk.locator("#id-value").fill("C99999999")
    await kiosk.locator("#id-value").press("Enter")
    await kiosk.get_by_role("button", name="不关联身份，直接取号").click()
    await expect(kiosk.locator("#ticket")).to_be_visible()
    assert len(hall.call("GET", "/windows/w1", user="admin")["waiting"]) == waiting + 2

    # Left alone in English in the middle of a step, it returns to the start, in Chinese.
    await kiosk.goto(f"{hall.base}/pages/kiosk.html?idle=5")
    await set_language(kiosk, "en")
    await kiosk.locator("#services button[data-service=student-id]").click()
    await expect(kiosk.locator("#step-identify")).to_be_visible()
    await expect(kiosk.locator("#step-service")).to_be_visible(timeout=10_000)
    await expect(kiosk.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(kiosk.locator("#step-service h2")).to_have_text("请选择业务")


async def test_a_kiosk_in_an_outage_shows_a_banner_and_comes_back_by_itself(
        hall: HallProcess, browser: ContextBrowser) -> None:
    code = hall.call("POST", "/kiosk/pairing-codes", json={"device_id": "kiosk-lobby-2"})["code"]
    kiosk = await browser.new_page(VIEWPORTS["1080x1920"])
    await kiosk.goto(f"{hall.base}/pages/kiosk.html")
    await pair(kiosk, code)
    await expect(kiosk.locator("#step-service")).to_be_visible()
    # The service worker holds a copy of the page for a reload during the outage.
    assert await kiosk.evaluate("() => navigator.serviceWorker.ready.then(() => true)")

    hall.stop()
    await kiosk.locator("#services button[data-service=student-id]").click()
    await kiosk.locator("#skip").click()
    await expect(kiosk.locator("#message")).to_have_text(
        "暂时无法连接服务器，请稍后再试或咨询工作人员。")
    await expect(kiosk.locator("#offline-banner")).to_be_visible()
    await expect(kiosk.locator("#connection")).to_have_text("未连接")
    await assert_visitor_text(kiosk, "kiosk in an outage")
    await kiosk.reload()
    await expect(kiosk.locator("#offline-banner")).to_be_visible()
    await expect(kiosk.locator("#connection")).to_have_text("未连接")
    # Reloaded during the outage: what it offers is still there, and the visitor reads why
    # nothing can be pressed.
    await expect(kiosk.locator("#services button[data-service=student-id]")).to_be_visible()
    await expect(kiosk.locator("#message")).to_have_text(
        "暂时无法连接服务器，请稍后再试或咨询工作人员。")
    await check(kiosk, "journey-kiosk-offline-1080x1920-zh-CN")

    hall.start()
    await expect(kiosk.locator("#connection")).to_have_text("已连接", timeout=15_000)
    await expect(kiosk.locator("#offline-banner")).to_have_count(0)
    await expect(kiosk.locator("#message")).to_be_hidden()
    await expect(kiosk.locator("#services button[data-service=student-id]")).to_be_visible()
    # A key revoked meanwhile sends the kiosk back to its setup screen, in words.
    key_id = next(k["key_id"] for k in hall.call("GET", "/kiosk/keys")
                  if k["device_id"] == "kiosk-lobby-2")
    hall.call("DELETE", f"/kiosk/keys/{key_id}")
    await kiosk.locator("#services button[data-service=student-id]").click()
    await kiosk.locator("#skip").click()
    await expect(kiosk.locator("#setup")).to_be_visible()
    await expect(kiosk.locator("#message")).to_have_text(
        "该自助机尚未设置或已被停用，请联系管理员获取配对码。")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"{hall.api}/kiosk/pair", json={"code": code})
    assert response.status_code == 410 and response.json()["code"] == "kiosk.pairing_code_used"
