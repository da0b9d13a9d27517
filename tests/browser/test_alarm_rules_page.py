"""Facilities staff write an alarm rule on its page: a preview drawn over the kiosk's last hours
of telemetry, bad drafts refused with the reason in their language, the rule saved, a
built-in alarm tuned, every change in the audit; in Chinese (the default) and in English, at
the three screens of issue 19 without sideways scrolling or raw codes."""

from __future__ import annotations

import time

from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, ContextBrowser, screenshot
from tests.browser.hall_process import HallProcess, ShellDevice
from tests.browser.journeys import VIEWPORTS, assert_no_horizontal_overflow, assert_no_raw_codes
from tests.browser.pages import log_in
from tests.support.waiting import eventually

MINUTE_MS = 60_000


async def fill_hot_rule(page: Page, *, clear_at: str = "43",
                        message_en: str = "{device} at {value} {unit}") -> None:
    form = page.locator("#rule-form")
    if await form.locator("input[name=id]").is_editable():  # read-only once the rule is saved
        await form.locator("input[name=id]").fill("kiosk-hot")
    await form.locator("input[name=name]").fill("自助机过热")
    await form.locator("select[name=severity]").select_option("major")
    await form.locator("input[name=devices]").fill("kiosk-*")
    await form.locator("select[name=type]").select_option("above")
    await form.locator("input[name=metric]").fill("cpu_temp_c")
    await form.locator("input[name=threshold]").fill("45")
    await form.locator("input[name=clear_at]").fill(clear_at)
    await form.locator("input[name=for_s]").fill("300")
    await form.locator("input[name=message_zh]").fill("{device} 温度 {value}{unit}，超过 {threshold}{unit}")
    await form.locator("input[name=message_en]").fill(message_en)


async def test_a_rule_is_previewed_refused_saved_and_a_builtin_tuned(
        hall: HallProcess, browser: ContextBrowser) -> None:
    kiosk = ShellDevice(hall.mqtt_url, hall.prefix, "kiosk-b7", "kiosk", site="main-hall")
    try:
        kiosk.start()
        # Three hours at one sample a minute (an outbox flush): 40 °C, and 50 °C for 20 min.
        now = int(time.time() * 1000)
        start = now - 180 * MINUTE_MS
        samples = [{"ts": start + m * MINUTE_MS,
                    "values": {"cpu_temp_c": 50.0 if 60 <= m < 80 else 40.0}} for m in range(180)]
        kiosk.publish("telemetry", samples)

        def stored() -> bool:
            rows = hall.call("GET", "/devices/kiosk-b7/telemetry", user="fac1", params={
                "metric": "cpu_temp_c", "from_ms": start, "to_ms": now, "bucket_s": 86400})
            return sum(b["count"] for b in rows["buckets"]) == 180
        await eventually(stored, timeout_s=20, what="the kiosk's telemetry stored")

        page = await browser.new_page(LAPTOP)
        await page.goto(f"{hall.base}/pages/index.html")
        await page.get_by_role("link", name="报警规则").click()
        await log_in(page, "fac1")
        await expect(page.locator("#rules")).to_contain_text("还没有规则")

        # An impossible hysteresis, then a placeholder the rule cannot fill: refused, in Chinese.
        await fill_hot_rule(page, clear_at="47")
        await page.locator("#save").click()
        await expect(page.locator("#form-message")).to_have_text(
            "条件不可能成立（condition.clear_at）")
        await fill_hot_rule(page, message_en="{device} at {temperature}")
        await page.locator("#save").click()
        await expect(page.locator("#form-message")).to_have_text(
            "消息中有不能使用的占位符（message.en）")

        # The preview over the kiosk's stored hours: one alarm, 5 min into the hot spell.
        await fill_hot_rule(page)
        await page.locator("#preview-device").fill("kiosk-b7")
        await page.locator("#preview").click()
        await expect(page.locator("#preview-summary")).to_have_text("将触发 1 次报警（回放 180 个数据点）")
        await expect(page.locator("#preview-chart svg[data-intervals='1'] rect.raised-band")
                     ).to_have_count(1)
        interval = page.locator("#preview-intervals tr.interval")
        await expect(interval).to_have_count(1)
        await expect(interval).to_contain_text("kiosk-b7 温度 50°C，超过 45°C")
        await screenshot(page, "alarm-rules-preview-zh")

        await page.locator("#save").click()
        await expect(page.locator("#form-message")).to_have_text("已保存")
        row = page.locator("tr[data-rule=kiosk-hot]")
        await expect(row).to_contain_text("自助机过热")
        await expect(row.locator(".badge")).to_have_text("重要")
        await expect(row.locator(".state")).to_have_text("启用中")
        await row.get_by_role("button", name="停用").click()
        await expect(row.locator(".state")).to_have_text("已停用")

        # A built-in alarm: a held-open door as minor, only after 30 s more.
        held = page.locator("tr[data-builtin='door.held_open']")
        await expect(held).to_contain_text("门长时间未关")
        await held.locator(".b-severity").select_option("minor")
        await held.locator(".b-delay").fill("30")
        await held.get_by_role("button", name="保存").click()
        await expect(held).to_contain_text("已调整")
        assert hall.call("GET", "/alarm-rules/builtin", user="fac1")[
            [b["id"] for b in hall.call("GET", "/alarm-rules/builtin", user="fac1")].index(
                "door.held_open")]["delay_s"] == 30
        # A forced door never clears by itself: it takes no delay.
        await expect(page.locator("tr[data-builtin='door.forced'] .b-delay")).to_be_disabled()

        audit = page.locator("#audit")
        await expect(audit.locator("tr")).to_have_count(3)
        await expect(audit).to_contain_text("fac1")
        await expect(audit.locator("tr").first).to_contain_text("调整")

        for name, viewport in VIEWPORTS.items():
            await page.set_viewport_size(viewport)  # type: ignore[arg-type]
            await assert_no_horizontal_overflow(page, f"alarm rules zh {name}")
        await assert_no_raw_codes(page, "alarm rules zh")

        await page.locator("#lang").click()
        await expect(page.locator("h1")).to_have_text("Alarm rules")
        await expect(row.locator(".badge")).to_have_text("major")
        await expect(interval).to_contain_text("kiosk-b7 at 50 °C")
        await page.locator("#save").click()  # unchanged, the editor still holds the rule
        await expect(page.locator("#form-message")).to_have_text("Saved")
        await page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
        await fill_hot_rule(page, clear_at="60")
        await page.locator("#save").click()
        await expect(page.locator("#form-message")).to_contain_text(
            "The condition cannot hold (condition.clear_at): clear_at must be at or below")
        for name, viewport in VIEWPORTS.items():
            await page.set_viewport_size(viewport)  # type: ignore[arg-type]
            await assert_no_horizontal_overflow(page, f"alarm rules en {name}")
        await page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
        await screenshot(page, "alarm-rules-en")

        # The facilities dashboard links to the rules, and shows a rule's alarm with its
        # message: a rule with no duration, and the kiosk sending 60 °C now.
        hall.call("POST", "/alarm-rules", user="fac1", json={
            "id": "kiosk-very-hot", "name": "Kiosk very hot", "severity": "critical",
            "target": {"devices": "kiosk-b7"},
            "condition": {"type": "above", "metric": "cpu_temp_c", "threshold": 55,
                          "clear_at": 50},
            "message": {"zh-CN": "{device} 温度过高：{value}{unit}",
                        "en": "{device} very hot: {value} {unit}"}})
        kiosk.publish("telemetry", {"ts": int(time.time() * 1000),
                                    "values": {"cpu_temp_c": 60.5}})
        await page.goto(f"{hall.base}/pages/facilities.html")
        await expect(page.locator("#alarm-rules-link")).to_have_text("Alarm rules")
        rule_alarm = page.locator("#alarms tr[data-device=kiosk-b7]")
        await expect(rule_alarm.locator(".rule-message")).to_have_text(
            "kiosk-b7 very hot: 60.5 °C", timeout=10_000)
        await page.locator("#lang").click()
        await expect(rule_alarm.locator(".rule-message")).to_have_text("kiosk-b7 温度过高：60.5°C")
    finally:
        kiosk.kill()
        kiosk.clear_retained()
