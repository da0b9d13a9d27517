"""The hall's display, as issue 19 walked it: public (no buttons) until staff log in on it, a
call and a recall that looks different, a warning when the browser cannot speak Chinese, and a
reload while the server is down that shows the last known calls with an offline mark. In
Chinese and English at the three viewports, with no horizontal overflow and no raw code."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import ContextBrowser
from tests.browser.hall_process import HallProcess
from tests.browser.journeys import (
    VIEWPORTS,
    assert_no_horizontal_overflow,
    assert_no_raw_codes,
    screenshot,
)
from tests.browser.pages import live, log_in


async def visible_buttons(page: Page) -> list[str]:
    return list(await page.evaluate("""() => [...document.querySelectorAll('button')]
        .filter((b) => b.offsetParent !== null).map((b) => b.textContent.trim())"""))


async def check(page: Page, name: str) -> None:
    await assert_no_horizontal_overflow(page, name)
    if await page.evaluate("document.documentElement.lang") == "zh-CN":
        await assert_no_raw_codes(page, name)
        assert "Failed to fetch" not in await page.locator("body").inner_text()
    await screenshot(page, name)


async def test_the_display_calls_recalls_and_keeps_its_board_through_an_outage(
        hall: HallProcess, browser: ContextBrowser) -> None:
    first = hall.take_ticket("student-id")
    hall.take_ticket("student-id")
    display = await browser.new_page(VIEWPORTS["1920x1080"])
    await display.goto(f"{hall.base}/pages/display.html")
    await live(display)
    # Public: nothing to press, and no way to the staff pages.
    assert await visible_buttons(display) == []
    await expect(display.locator("a")).to_have_count(0)
    # The test browser runs with the autoplay flag a TV uses: the sound needs no one.
    await expect(display.locator("#sound-locked")).to_be_hidden()
    # No Chinese voice in this browser (or one): the warning says so exactly when there is none.
    await display.wait_for_function("() => 'chineseVoice' in (window.hallDisplay || {})")
    voices = await display.evaluate("""() => speechSynthesis.getVoices()
        .filter((v) => v.lang.replace('_', '-').toLowerCase().startsWith('zh')).length""")
    no_voice = display.locator("#no-voice")
    if voices:
        await expect(no_voice).to_be_hidden(timeout=3000)
    else:
        await expect(no_voice).to_be_visible(timeout=3000)
        await expect(no_voice).to_contain_text("此浏览器没有中文语音")

    # A call, then a recall of the same ticket: the recall is tagged and pulses.
    hall.call("POST", "/windows/w1/open", user="clerk1")
    hall.call("POST", "/windows/w1/call-next", user="clerk1")
    now = display.locator("#now-call")
    await expect(now).to_have_text(f"请 {first['ticket']} 号到 1 号窗口办理")
    await expect(display.locator("#now-tag")).to_be_hidden()
    await expect(now).to_have_class("now-call flash")
    await screenshot(display, "journey-display-call-1920x1080-zh-CN")
    hall.call("POST", "/windows/w1/recall", user="clerk1")
    await expect(display.locator("#now-tag")).to_have_text("再次呼叫")
    await expect(now).to_have_text(f"请 {first['ticket']} 号到 1 号窗口办理")
    await expect(now).to_have_class("now-call recalled recall-pulse")
    await expect(display.locator(f"#recent li[data-ticket={first['ticket']}] .tag")).to_have_text("再次呼叫")
    await display.wait_for_function("() => window.hallAnnouncements.length >= 2", timeout=15_000)
    announcements = await display.evaluate("window.hallAnnouncements")
    assert [a["recall"] for a in announcements] == [False, True], announcements
    assert announcements[1]["text"].startswith("再次呼叫，请 ")
    await screenshot(display, "journey-display-recall-1920x1080-zh-CN")

    # Staff double-click the screen and log in for the controls; "done" hides them again.
    await display.dblclick("body")
    await log_in(display, "clerk1")
    await expect(display.locator("#staff-controls")).to_be_visible()
    assert "全屏" in await visible_buttons(display)
    await expect(display.locator("#sound")).to_have_text("声音已开启")
    # A TV without the autoplay flag starts with its sound locked: the display says so, and a
    # staff press unlocks it.
    await display.evaluate("() => window.hallDisplay.audio.suspend()")
    await expect(display.locator("#sound-locked")).to_contain_text("声音尚未开启")
    await expect(display.locator("#sound")).to_have_text("开启声音")
    await display.locator("#sound").click()
    await expect(display.locator("#sound-locked")).to_be_hidden()
    await expect(display.locator("#sound")).to_have_text("声音已开启")
    for language in ("zh-CN", "en"):
        if await display.evaluate("document.documentElement.lang") != language:
            await display.locator("#lang").click()
        for size, viewport in VIEWPORTS.items():
            await display.set_viewport_size(viewport)  # type: ignore[arg-type]
            await check(display, f"journey-display-{size}-{language}")
        if language == "en":
            await expect(display.locator("#now-tag")).to_have_text("Recall")
            await expect(now).to_have_text(f"Number {first['ticket']}, please go to window 1")
    await display.locator("#lang").click()
    await display.locator("#staff-done").click()
    assert await visible_buttons(display) == []
    assert await display.evaluate("sessionStorage.getItem('hall.token')") is None

    # The server goes away and the display is reloaded: the last calls stay, marked offline.
    assert await display.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    await display.set_viewport_size(VIEWPORTS["1920x1080"])
    hall.stop()
    await display.reload()
    await expect(display.locator("#offline-mark")).to_be_visible(timeout=10_000)
    await expect(display.locator("#offline-mark")).to_contain_text("离线")
    await expect(display.locator(f"#recent li[data-ticket={first['ticket']}]")).to_be_visible()
    await expect(now).to_contain_text(first["ticket"])
    await expect(display.locator("#waiting li[data-service=student-id]")).to_be_visible()
    await expect(display.locator("#offline-banner")).to_be_visible()
    for size, viewport in VIEWPORTS.items():
        await display.set_viewport_size(viewport)  # type: ignore[arg-type]
        await check(display, f"journey-display-offline-{size}-zh-CN")
    # Nothing on the kept board is announced again when the server is back.
    hall.start()
    await live(display, timeout_ms=20_000)
    await expect(display.locator("#offline-mark")).to_be_hidden()
    await expect(display.locator("#offline-banner")).to_have_count(0)
    assert await display.evaluate("window.hallAnnouncements.length") == 0
