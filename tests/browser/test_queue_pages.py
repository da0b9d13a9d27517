"""The window terminal calls, the public display shows and announces: in real Chromium."""

from __future__ import annotations

import re
import signal
import time

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, TV, ContextBrowser, screenshot
from tests.browser.hall_process import PASSWORD, HallProcess
from tests.browser.pages import live, log_in


async def window_terminal(browser: ContextBrowser, hall: HallProcess, user: str, window: str,
                          *, open_it: bool = True) -> Page:
    """The window terminal at a laptop, logged in as ``user``, ``window`` chosen (and opened)."""
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/window.html")
    await log_in(page, user)
    await page.locator("#window-select").select_option(window)
    if open_it:
        await page.locator("#open").click()
        await expect(page.locator("#terminal")).to_be_visible()
    return page


async def test_clerk_call_is_on_the_display_and_announced_once(
        hall: HallProcess, browser: ContextBrowser) -> None:
    taken = hall.take_ticket("student-id")
    display = await browser.new_page(TV)
    await display.goto(f"{hall.base}/pages/display.html")
    await live(display)
    assert await display.evaluate("document.documentElement.lang") == "zh-CN"
    await expect(display.locator("#waiting li[data-service=student-id] .count")).to_have_text("1 人")

    clerk = await window_terminal(browser, hall, "clerk1", "w1")
    await expect(clerk.locator("#queue tr[data-ticket]")).to_have_count(1)
    await expect(clerk.locator("#queue")).to_contain_text(taken["ticket"])

    started = time.monotonic()
    await clerk.keyboard.press("n")   # the call-next shortcut
    await expect(clerk.locator("#current-number")).to_have_text(taken["ticket"])
    await expect(display.locator("#now-call")).to_contain_text(taken["ticket"], timeout=5000)
    # A figure, not a limit (a loaded CI machine is no user's hall).
    print(f"call on the display {time.monotonic() - started:.3f} s after the key press")
    await expect(display.locator("#now-call")).to_contain_text("1 号窗口")
    await expect(clerk.locator("#current-number")).to_have_text(taken["ticket"])
    await screenshot(display, "display-call-1080p")
    await screenshot(clerk, "window-called-1366")

    # A recall is announced again; then another window calls another visitor. The display
    # announces in the order it hears, so once that last call is announced, any repeat of the
    # first two would be in the list before it.
    # Predicates are functions, not expression strings: playwright evaluates a string with
    # eval() in the page, which the page's Content-Security-Policy (no 'unsafe-eval') refuses.
    await display.wait_for_function("() => window.hallAnnouncements.length >= 1", timeout=5000)
    await clerk.keyboard.press("r")
    await display.wait_for_function("() => window.hallAnnouncements.length >= 2",
                                    timeout=10_000)
    marker = hall.take_ticket("dorm")
    hall.call("POST", "/windows/w3/open")
    hall.call("POST", "/windows/w3/call-next")
    await display.wait_for_function(
        f"() => window.hallAnnouncements.some((a) => a.ticket === {marker['ticket']!r})",
        timeout=30_000)
    announcements = await display.evaluate("window.hallAnnouncements")
    assert [a["ticket"] for a in announcements] == [taken["ticket"], taken["ticket"],
                                                     marker["ticket"]], announcements
    spoken = " ".join(taken["ticket"])
    assert announcements[0]["text"] == f"请 {spoken} 号到 1 号窗口办理"
    # The clerk serves and completes with the buttons; the queue is empty afterwards.
    await clerk.locator("#act-start").click()
    await expect(clerk.locator("#act-complete")).to_be_enabled()
    await clerk.locator("#act-complete").click()
    await expect(clerk.locator("#current-number")).to_have_text("暂无")
    await expect(clerk.locator("#figures")).to_contain_text("1已办结")


async def test_display_reconnects_after_a_controller_restart(
        hall: HallProcess, browser: ContextBrowser) -> None:
    display = await browser.new_page(TV)
    await display.goto(f"{hall.base}/pages/display.html")
    await live(display)

    hall.stop(signal.SIGKILL)
    await expect(display.locator("#live-status")).to_have_attribute(
        "data-state", "reconnecting", timeout=5000)
    await expect(display.locator("#live-status")).to_have_text("连接中断，正在重新连接…")
    await screenshot(display, "display-reconnecting-1080p")
    hall.start()
    await live(display, timeout_ms=15_000)

    # Calls made after the restart reach the page without a reload.
    taken = hall.take_ticket("dorm")
    hall.call("POST", "/windows/w3/open", user="clerk1")
    hall.call("POST", "/windows/w3/call-next", user="clerk1")
    await expect(display.locator("#now-call")).to_contain_text(taken["ticket"], timeout=3000)
    await expect(display.locator("#now-call")).to_contain_text("3 号窗口")


async def test_bad_clerk_moves_show_a_message_and_the_page_keeps_working(
        hall: HallProcess, browser: ContextBrowser) -> None:
    clerk = await window_terminal(browser, hall, "clerk1", "w2")
    # Nobody waits: call-next says so instead of failing.
    await clerk.keyboard.press("n")
    await expect(clerk.locator("#message")).to_have_text("没有等候的号码")
    # Another clerk's window: the page says whose it is and does not offer to open it.
    hall.call("POST", "/windows/w4/open", user="admin")
    await clerk.locator("#window-select").select_option("w4")
    await expect(clerk.locator("#who")).to_have_text("该窗口已由 admin 开启")
    await expect(clerk.locator("#open")).to_be_disabled()
    await expect(clerk.locator("#terminal")).to_be_hidden()
    # A wrong password is refused with a message, not a crash.
    other = await browser.new_page(LAPTOP)
    await other.goto(f"{hall.base}/pages/window.html")
    await other.locator("#login-form input[name=username]").fill("clerk1")
    await other.locator("#login-form input[name=password]").fill("wrong-password")
    await other.locator("#login-form button[type=submit]").click()
    await expect(other.locator("#login-error")).to_have_text("用户名或密码错误")
    # Four more lock clerk1 out: the page says so and when to try again, rather than calling
    # the password wrong (the right one is refused too, until then).
    clear_error = "document.querySelector('#login-error').textContent = ''"
    for _ in range(4):
        await other.evaluate(clear_error)  # so each answer is waited for
        await other.locator("#login-form button[type=submit]").click()
        await expect(other.locator("#login-error")).to_have_text("用户名或密码错误")
    await other.locator("#login-form input[name=password]").fill(PASSWORD)
    await other.evaluate(clear_error)
    await other.locator("#login-form button[type=submit]").click()
    await expect(other.locator("#login-error")).to_have_text(
        re.compile(r"^登录失败次数过多，请 (59|60) 秒后再试$"))


async def test_open_pages_do_not_hold_up_a_controller_shutdown(
        hall: HallProcess, browser: ContextBrowser) -> None:
    display = await browser.new_page(LAPTOP)
    await display.goto(f"{hall.base}/pages/display.html")
    await live(display)
    started = time.monotonic()
    hall.stop(signal.SIGTERM)
    stopped_after_s = time.monotonic() - started
    assert stopped_after_s < 5, f"the controller took {stopped_after_s:.1f} s to stop"
    await expect(display.locator("#live-status")).to_have_attribute(
        "data-state", "reconnecting", timeout=5000)


async def test_an_admin_sees_who_holds_each_window_and_takes_one_over_with_a_note(
        hall: HallProcess, browser: ContextBrowser) -> None:
    taken = hall.take_ticket("student-id")
    hall.call("POST", "/windows/w1/open", user="clerk1")
    hall.call("POST", "/windows/w1/call-next", user="clerk1")

    admin = await window_terminal(browser, hall, "admin", "w1", open_it=False)
    # The list says who holds each window; acting on clerk1's warns the admin.
    await expect(admin.locator("#window-select option[value=w1]")).to_contain_text("clerk1 在岗")
    await expect(admin.locator("#not-mine")).to_contain_text("clerk1")
    await expect(admin.locator("#take-over")).to_be_visible()
    await admin.locator("#take-over").click()
    dialog = admin.locator("#supervise")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text(f"当前号码 {taken['ticket']} 将暂挂")
    # No note, no take-over: the dialog stays open.
    await admin.locator("#supervise-confirm").click()
    await expect(dialog).to_be_visible()
    await admin.locator("#supervise-note").fill("clerk1 被叫走")
    await admin.locator("#supervise-confirm").click()
    await expect(dialog).to_be_hidden()
    await expect(admin.locator("#message")).to_contain_text(f"{taken['ticket']} 已暂挂")
    await expect(admin.locator("#window-select option[value=w1]")).to_contain_text("我在岗")
    await expect(admin.locator("#not-mine")).to_be_hidden()
    await expect(admin.locator("#parked")).to_contain_text(taken["ticket"])
    await screenshot(admin, "window-taken-over-1366")

    # clerk1's terminal shows the window is no longer theirs; in English too.
    clerk = await window_terminal(browser, hall, "clerk1", "w1", open_it=False)
    await expect(clerk.locator("#who")).to_have_text("该窗口已由 admin 开启")
    await expect(clerk.locator("#terminal")).to_be_hidden()
    await expect(clerk.locator("#open")).to_be_disabled()
    await expect(clerk.locator("#take-over")).to_be_hidden()
    await clerk.locator("#lang").click()
    await expect(clerk.locator("#window-select option[value=w1]")).to_contain_text("open by admin")


def file_case(hall: HallProcess, case_id: str, service: str, person_id: str, card: str,
              materials: list[dict[str, str]]) -> None:
    """The online platform files a case that needs a visit, with its materials checklist."""
    key = hall.call("POST", "/integration/keys",
                    json={"name": "platform", "scopes": ["cases:write"]})["api_key"]
    response = httpx.put(f"{hall.api}/integration/cases/{case_id}", headers={"X-Api-Key": key},
                         timeout=15, json={
                             "service_code": service, "status": "awaiting_visit",
                             "applicant": {"person_id": person_id, "campus_card": card,
                                           "name": "李雷"},
                             "materials": materials})
    assert response.status_code == 201, response.text


async def test_a_clerk_is_told_what_each_move_did_and_picks_transfers_and_missing_materials(
        hall: HallProcess, browser: ContextBrowser) -> None:
    file_case(hall, "YW-9", "student-id", "2024019999", "C20249999",
              [{"code": "photo", "name": "一寸照片"}, {"code": "form", "name": "补办申请表"}])
    # The applicant's campus card, read at the kiosk, links the ticket to the case.
    first = hall.take_ticket("student-id", identity=("campus_card", "C20249999"))
    second = hall.take_ticket("student-id")

    clerk = await window_terminal(browser, hall, "clerk1", "w1")
    # The queue: minutes waited, the linked case marked (the legend says what 网 means).
    row = clerk.locator(f"#queue tr[data-ticket={first['ticket']}]")
    await expect(row).to_contain_text("已等 0 分钟")
    await expect(row.locator(".mark.case")).to_have_text("网")
    await expect(clerk.locator(".legend")).to_contain_text("关联网上办件")

    await clerk.keyboard.press("n")
    await expect(clerk.locator("#message")).to_have_text(f"已叫 {first['ticket']}")
    await expect(clerk.locator("#act-recall")).to_contain_text("重呼 (0/2)")
    # Recall counts up to its limit, then is disabled (a no-show or a start goes on).
    await clerk.keyboard.press("r")
    await expect(clerk.locator("#message")).to_have_text(f"{first['ticket']} 已重呼 (1/2)")
    await expect(clerk.locator("#act-recall")).to_contain_text("重呼 (1/2)")
    await clerk.keyboard.press("r")
    await expect(clerk.locator("#act-recall")).to_contain_text("重呼 (2/2)")
    await expect(clerk.locator("#act-recall")).to_be_disabled()
    await clerk.keyboard.press("s")
    await expect(clerk.locator("#message")).to_have_text(f"{first['ticket']} 开始办理")
    await expect(clerk.locator("#act-pending")).to_be_enabled()

    # Pending materials: tick from the case's checklist; nothing ticked is refused.
    await clerk.keyboard.press("m")
    dialog = clerk.locator("#pending-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("一寸照片")
    await clerk.locator("#pending-confirm").click()
    await expect(clerk.locator("#pending-error")).to_have_text("请勾选或填写缺少的材料")
    await dialog.locator("input[value=一寸照片]").check()
    await clerk.locator("#pending-other").fill("监护人签字")
    await clerk.locator("#pending-confirm").click()
    await expect(dialog).to_be_hidden()
    await expect(clerk.locator("#message")).to_have_text(f"{first['ticket']} 已办结（待补材料）")
    case = hall.call("GET", "/integration/cases/YW-9")
    assert case["status_reason"] == "缺：一寸照片；其他：监护人签字"

    # Transfer a called visitor by the service's name; the keyboard T works before the start.
    await expect(clerk.locator("#act-call")).to_be_enabled()
    await clerk.keyboard.press("n")
    await expect(clerk.locator("#current-number")).to_have_text(second["ticket"])
    await expect(clerk.locator("#act-transfer")).to_be_enabled()
    await clerk.keyboard.press("t")
    transfer = clerk.locator("#transfer-dialog")
    await expect(transfer).to_be_visible()
    await expect(transfer).not_to_contain_text("学生证办理")   # not where it already is
    await transfer.get_by_text("成绩单与证明").click()
    await transfer.locator("button[value=confirm]").click()
    await expect(clerk.locator("#message")).to_have_text(f"{second['ticket']} 已转移到 成绩单与证明")
    await screenshot(clerk, "window-feedback-1366")
    # Closing the window asks first.
    await clerk.locator("#close").click()
    await expect(clerk.locator("#close-dialog")).to_be_visible()
    await clerk.locator("#close-dialog button[value=cancel]").click()
    await expect(clerk.locator("#terminal")).to_be_visible()


async def test_while_the_server_is_away_the_terminal_says_so_and_takes_no_action(
        hall: HallProcess, browser: ContextBrowser) -> None:
    hall.take_ticket("student-id")
    clerk = await window_terminal(browser, hall, "clerk1", "w2")
    await live(clerk)

    hall.stop(signal.SIGKILL)
    banner = clerk.locator("#offline-banner")
    await expect(banner).to_have_text("与服务器的连接已中断：操作暂不可用，连接恢复后自动继续。",
                                      timeout=15_000)
    # The buttons cannot be pressed, and a shortcut key sends nothing but says why.
    assert await clerk.locator("#act-call").evaluate(
        "(b) => getComputedStyle(b).pointerEvents") == "none"
    await clerk.keyboard.press("n")
    await expect(clerk.locator("#message")).to_have_text("无法连接服务器，请稍后重试")
    assert "Failed to fetch" not in await clerk.locator("body").inner_text()
    await screenshot(clerk, "window-offline-1366")

    hall.start()
    await expect(banner).to_have_count(0, timeout=30_000)
    await clerk.keyboard.press("n")
    await expect(clerk.locator("#current-number")).to_have_text("A001")
