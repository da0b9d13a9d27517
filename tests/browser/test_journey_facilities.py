"""Facilities staff's journey (issue 19), in Chinese and English at the three screens: the
dashboard with its alarms in words, a door lock's page and a queue display's page. Nothing is
wider than the screen, no code reaches a Chinese reader, the commands stay in view, the
charts say what they show, and every dangerous action asks first, with a note.

One controller and one browser serve the module; each case opens its own tabs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, ContextBrowser
from tests.browser.hall_process import HallProcess, ShellDevice
from tests.browser.journeys import (
    LANGUAGES,
    VIEWPORTS,
    assert_no_horizontal_overflow,
    assert_no_raw_codes,
    screenshot,
)
from tests.browser.module_hall import module_browser, module_hall, set_language, tabs
from tests.browser.pages import live, log_in
from tests.support.waiting import eventually_blocking

__all__ = ["module_browser", "module_hall", "tabs"]  # fixtures, imported to be found
pytestmark = pytest.mark.asyncio(loop_scope="module")

MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS


class Scene:
    """The devices every case looks at."""

    def __init__(self, hall: HallProcess) -> None:
        self.hall = hall
        self.lock = ShellDevice(hall.mqtt_url, hall.prefix, "lock-j1", "door_lock", site="dorm-1")
        self.gone = ShellDevice(hall.mqtt_url, hall.prefix, "lock-j2", "door_lock", site="dorm-1")
        self.display = ShellDevice(hall.mqtt_url, hall.prefix, "display-j1", "queue_display")

    def alarms(self, device_id: str, status: str = "active") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.hall.call(
            "GET", "/alarms", user="fac1", params={"device_id": device_id, "status": status})
        return found


@pytest.fixture(scope="module")
def scene(module_hall: HallProcess) -> Iterator[Scene]:
    """A lock with an hour of battery readings and a forced door, a lock gone offline, and a
    queue display the hall has sent waiting lists to."""
    scene = Scene(module_hall)
    now = int(time.time() * 1000)
    try:
        for device in (scene.lock, scene.gone, scene.display):
            device.start()
        # An hour of samples as an outbox flush; the agent's shed counter is in every one (it
        # must not be the chart a page opens on), and one metric is only eight days old.
        scene.lock.publish("telemetry", [
            {"ts": ts, "values": {"battery_pct": 80 - (now - ts) / MINUTE_MS / 10,
                                  "agent.telemetry_shed": 0, "door_state": "closed", "rssi": -60}}
            for ts in range(now - 60 * MINUTE_MS, now, MINUTE_MS)])
        scene.lock.publish("telemetry", {"ts": now - 8 * DAY_MS, "values": {"supply_v": 12.1}})
        scene.display.publish("telemetry", [
            {"ts": ts, "values": {"temp_c": 40 + (ts // MINUTE_MS) % 5, "brightness_pct": 80,
                                  "agent.telemetry_shed": 0}}
            for ts in range(now - 60 * MINUTE_MS, now, MINUTE_MS)])
        scene.lock.publish("event", {"id": "0b7f6a52-6c1e-4c1b-9a51-000000000001", "ts": now,
                                     "type": "door.forced", "data": {"contact": "open"}})
        eventually_blocking(lambda: scene.alarms("lock-j1"), 10, "the door.forced alarm")
        scene.gone.kill()
        eventually_blocking(lambda: scene.alarms("lock-j2"), 10, "lock-j2's offline alarm")
        # Visitors take tickets and a clerk calls them: the hall shows each call on the display
        # and refreshes its waiting list (the automatic commands that used to fill its history).
        for _ in range(3):
            module_hall.take_ticket("student-id")
        module_hall.call("POST", "/windows/w1/open", user="clerk1")
        for _ in range(2):
            module_hall.call("POST", "/windows/w1/call-next", user="clerk1")
            module_hall.call("POST", "/windows/w1/no-show", user="clerk1")

        def automatic_commands() -> bool:
            rows = module_hall.call("GET", "/devices/display-j1/commands", user="fac1")
            return sum(c["automatic"] for c in rows) >= 3
        eventually_blocking(automatic_commands, 15, "the display's waiting lists")
        yield scene
    finally:
        for device in (scene.lock, scene.gone, scene.display):
            device.kill()
            device.clear_retained()


async def open_as_facilities(browser: ContextBrowser, hall: HallProcess, url: str) -> Page:
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/{url}")
    await log_in(page, "fac1")
    return page


async def walk(page: Page, name: str, ready: Any) -> None:
    """At every screen and in both languages: nothing sticks out, no code shown in Chinese."""
    for viewport_name, viewport in VIEWPORTS.items():
        await page.set_viewport_size(viewport)  # type: ignore[arg-type]
        for language in LANGUAGES:
            await set_language(page, language)
            await ready(page)
            where = f"{name} at {viewport_name} in {language}"
            await assert_no_horizontal_overflow(page, where)
            if language == "zh-CN":
                await assert_no_raw_codes(page, where)
            await screenshot(page, f"journey-{name}-{viewport_name}-{language}")
    await page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]


async def test_the_dashboard_names_alarms_in_words_at_every_screen(
        module_hall: HallProcess, tabs: ContextBrowser, scene: Scene) -> None:
    page = await open_as_facilities(tabs, module_hall, "facilities.html")

    async def ready(page: Page) -> None:
        await live(page)
        await expect(page.locator("#alarms tr[data-device=lock-j1]")).to_have_count(1)
        await expect(page.locator("#devices tr[data-device=display-j1]")).to_have_count(1)

    await walk(page, "facilities", ready)
    # Last walked in English: the alarm reads as words, its severity too.
    forced = page.locator("#alarms tr[data-device=lock-j1]")
    await expect(forced).to_contain_text("Door forced open")
    await expect(forced).to_contain_text("critical")
    await set_language(page, "zh-CN")
    await expect(forced).to_contain_text("门被强行打开")
    await expect(forced).to_contain_text("严重")
    await expect(page.locator("#alarms tr[data-device=lock-j2]")).to_contain_text("设备离线")


async def test_clearing_a_critical_alarm_asks_for_a_note_and_what_still_holds_is_refused(
        module_hall: HallProcess, tabs: ContextBrowser, scene: Scene) -> None:
    page = await open_as_facilities(tabs, module_hall, "facilities.html")
    await set_language(page, "zh-CN")
    await live(page)
    dialog = page.locator("#note-dialog")

    # The offline lock: a note is required (critical), and then the server refuses, since the
    # lock is still offline; the page says why in words.
    gone = page.locator("#alarms tr[data-device=lock-j2]")
    await gone.get_by_role("button", name="清除").click()
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("这是严重告警")
    await dialog.get_by_role("button", name="清除").click()
    await expect(dialog.locator(".note-error")).to_have_text("请填写原因")
    await expect(dialog).to_be_visible()                      # not sent without a note
    await dialog.locator("textarea").fill("到现场看过，门锁断电")
    await dialog.get_by_role("button", name="清除").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#message")).to_contain_text("设备仍然离线")
    await expect(gone).to_have_count(1)
    assert scene.alarms("lock-j2")[0]["status"] == "active"
    await screenshot(page, "journey-facilities-clear-refused-1366x768-zh-CN")

    # The forced door: cancelling sends nothing; with a note it clears, and the note stays
    # with the alarm, shown on the lock's page.
    forced = page.locator("#alarms tr[data-device=lock-j1]")
    await forced.get_by_role("button", name="清除").click()
    await dialog.locator("textarea").fill("不该发出")
    await dialog.get_by_role("button", name="取消").click()
    await expect(dialog).to_be_hidden()
    await expect(forced).to_have_count(1)
    await forced.get_by_role("button", name="清除").click()
    await expect(dialog.locator("textarea")).to_have_value("")   # a fresh note each time
    await dialog.locator("textarea").fill("门框被撬，已报保卫处")
    await dialog.get_by_role("button", name="清除").click()
    await expect(forced).to_have_count(0)
    [cleared] = scene.alarms("lock-j1", "cleared")
    assert (cleared["type"], cleared["cleared_by"], cleared["cleared_note"]) == (
        "door.forced", "fac1", "门框被撬，已报保卫处")

    lock_page = await open_as_facilities(tabs, module_hall, "device.html?id=lock-j1")
    await expect(lock_page.locator("#cleared-alarms")).to_contain_text("门框被撬，已报保卫处")
    await expect(lock_page.locator("#cleared-alarms")).to_contain_text("门被强行打开")


async def test_a_lock_page_fits_every_screen_with_its_commands_in_view_and_a_labelled_chart(
        module_hall: HallProcess, tabs: ContextBrowser, scene: Scene) -> None:
    page = await open_as_facilities(tabs, module_hall, "device.html?id=lock-j1")

    async def ready(page: Page) -> None:
        await live(page)
        await expect(page.locator("#chart svg[data-points]")).to_have_count(1)
        await expect(page.locator("#audit-card")).to_be_visible()
        # The unlock button is on the first screen, without scrolling.
        unlock = page.locator("#cmd-unlock")
        await expect(unlock).to_be_in_viewport()

    await walk(page, "lock", ready)
    await set_language(page, "zh-CN")
    await ready(page)
    # The chart opens on the battery, not on the agent's shed counter, with both axes titled
    # and no debug figures for people.
    await expect(page.locator("#metric")).to_have_value("battery_pct")
    await expect(page.locator("#metric option[value=battery_pct]")).to_have_text("电池电量")
    chart = page.locator("#chart svg")
    await expect(chart.locator(".value-title")).to_have_text("电池电量（%）")
    await expect(chart.locator(".time-title")).to_have_text("时间")
    assert int(await chart.get_attribute("data-points") or "0") >= 55
    await expect(page.locator("main")).not_to_contain_text("60s")
    await expect(page.locator("main")).not_to_contain_text(" ms")
    # Hovering the line shows the value under the pointer with its unit.
    box = await chart.locator(".hover-area").bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    tip = page.locator("#chart .chart-tip")
    await expect(tip).to_be_visible()
    await expect(tip).to_have_text(re.compile(r"^\d\d:\d\d · \d+(\.\d+)? %$"))
    await screenshot(page, "journey-lock-chart-hover-1366x768-zh-CN")
    # The latest values are in words with units.
    await expect(page.locator("#latest tr[data-metric=door_state]")).to_contain_text("关")
    # A metric with nothing in the range says so, in the page's language.
    await page.locator("#metric").select_option("supply_v")
    await page.get_by_role("button", name="近1周").click()
    await expect(chart.locator(".chart-empty")).to_have_text("所选时间段没有数据")
    await set_language(page, "en")
    await page.locator("#metric").select_option("supply_v")
    await expect(page.locator("#chart svg .chart-empty")).to_have_text("No data in this range")


async def test_reboot_and_unlock_ask_first_with_a_note_kept_in_the_history(
        module_hall: HallProcess, tabs: ContextBrowser, scene: Scene) -> None:
    page = await open_as_facilities(tabs, module_hall, "device.html?id=lock-j1")
    await set_language(page, "zh-CN")
    await live(page)
    dialog = page.locator("#note-dialog")
    before = len(module_hall.call("GET", "/devices/lock-j1/commands", user="fac1"))

    # Reboot: Esc cancels; an empty note is refused by the page; a note sends it.
    await page.locator("#cmd-reboot").click()
    await expect(dialog).to_contain_text("重启 lock-j1？")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await page.locator("#cmd-reboot").click()
    await dialog.get_by_role("button", name="重启").click()
    await expect(dialog.locator(".note-error")).to_have_text("请填写原因")
    await dialog.locator("textarea").fill("固件升级后无响应")
    await dialog.get_by_role("button", name="重启").click()
    reboot = page.locator("#history tr[data-method='device.reboot']")
    await expect(reboot).to_have_count(1, timeout=20_000)
    await expect(reboot).to_contain_text("重启")
    await expect(reboot).to_contain_text("固件升级后无响应")

    # Unlock: the same dialog; its note is the reason in the door's audit.
    await page.locator("#cmd-unlock").click()
    await expect(dialog).to_contain_text("远程打开 lock-j1")
    await dialog.get_by_role("button", name="取消").click()
    await page.locator("#cmd-unlock").click()
    await dialog.locator("textarea").fill("送修工人进门")
    await dialog.get_by_role("button", name="开门").click()
    unlock = page.locator("#history tr[data-method='door.unlock']")
    await expect(unlock).to_have_count(1, timeout=20_000)
    await expect(unlock).to_contain_text("送修工人进门")
    sent = module_hall.call("GET", "/devices/lock-j1/commands", user="fac1")
    assert len(sent) == before + 2  # the cancelled ones never left the page
    assert [c["note"] for c in sent if c["method"] == "device.reboot"] == ["固件升级后无响应"]
    await expect(page.locator("#audit tr[data-action='door.unlock']").first).to_contain_text("远程开门")
    # The JSON is folded under one line until asked for.
    details = unlock.locator("details").first
    await expect(details.locator("pre")).to_be_hidden()
    await details.locator("summary").click()
    await expect(details.locator("pre")).to_contain_text("送修工人进门")
    await assert_no_horizontal_overflow(page, "lock page with the details open")
    await assert_no_raw_codes(page, "lock page after reboot and unlock")
    await screenshot(page, "journey-lock-after-actions-1366x768-zh-CN")


async def test_a_display_page_hides_the_automatic_commands_until_asked(
        module_hall: HallProcess, tabs: ContextBrowser, scene: Scene) -> None:
    page = await open_as_facilities(tabs, module_hall, "device.html?id=display-j1")
    await set_language(page, "zh-CN")
    await live(page)
    rows = page.locator("#history tr[data-command]")
    await expect(page.locator("#history")).to_contain_text("没有命令记录")
    await expect(page.locator("#metric")).to_have_value("temp_c")
    await expect(page.locator("#chart svg .value-title")).to_have_text("温度（°C）")

    await page.locator("#cmd-brightness").click()
    await expect(rows).to_have_count(1, timeout=20_000)
    await expect(rows.first).to_contain_text("设置亮度")
    # The toggle shows the hall's own waiting lists, marked as automatic.
    await page.get_by_label("显示自动命令").check()
    waiting_list = page.locator("#history tr[data-method='display.queue']")
    await expect(waiting_list.first).to_contain_text("等候列表")
    await expect(waiting_list.first).to_contain_text("自动")
    await expect(page.locator("#history tr[data-method='display.call']").first).to_contain_text("叫号显示")
    assert await page.locator("#history tr:has(.badge.auto)").count() >= 3

    async def ready(page: Page) -> None:
        await live(page)
        await page.get_by_role("checkbox").check()
        await expect(page.locator("#history tr[data-method='display.queue']").first).to_be_visible()
        await expect(page.locator("#brightness-box")).to_be_in_viewport()

    # With every automatic command listed, the page is still as wide as the screen.
    await walk(page, "display", ready)
