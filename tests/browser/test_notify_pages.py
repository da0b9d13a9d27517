"""The notification pages in Chromium against a real ``hall controller`` (real broker, real
PostgreSQL) whose mail goes to a real SMTP server (aiosmtpd) started here: an admin adds the
recipients, facilities staff put one on call and open a maintenance window, a forced door
arrives by mail, its link opens the acknowledgement page, and the alarm history shows every
step; in Chinese and in English, at each viewport, with no raw code shown."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from hall.embedded_broker import free_port
from tests.browser.conftest import LAPTOP, ContextBrowser, screenshot
from tests.browser.hall_process import ROOT, HallProcess
from tests.browser.journeys import (
    VIEWPORTS,
    assert_no_horizontal_overflow,
    assert_no_raw_codes,
)
from tests.browser.pages import log_in
from tests.support.controller import raw_device
from tests.support.notify_servers import MailSink, smtp_server
from tests.support.waiting import eventually

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/pages/alarm-ack\.html#\S+)")


@pytest.fixture
def mail() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def notify_hall(broker_url: str, database_url: str, tmp_path: Path,
                mail: tuple[MailSink, int]) -> Iterator[HallProcess]:
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.toml").read_text(encoding="utf-8") + f"""
[notify]
public_url = "http://127.0.0.1:{port}"
tick_s = 0.2

[notify.escalation]
critical = [30.0, 60.0]

[notify.email]
host = "127.0.0.1"
port = {mail[1]}
sender = "hall@campus.edu.cn"
security = "none"
""", encoding="utf-8")
    process = HallProcess(mqtt_url=broker_url, database_url=database_url,
                          prefix=f"browser-{uuid.uuid4().hex[:8]}/hall/v1", port=port,
                          data_dir=tmp_path / "data", log=tmp_path / "hall.log", config=config)
    process.start()
    try:
        process.add_user("fac1", "facilities")
        yield process
    finally:
        process.stop()


async def check_journey(page: Page, where: str) -> None:
    for name, size in VIEWPORTS.items():
        await page.set_viewport_size(size)  # type: ignore[arg-type]
        await assert_no_horizontal_overflow(page, f"{where} at {name}")
    await page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]


async def add_recipient(page: Page, name: str, role: str, email: str) -> None:
    form = page.locator("#recipient-form")
    await form.locator("input[name=name]").fill(name)
    await form.locator("select[name=role]").select_option(role)
    await form.locator("input[name=email]").fill(email)
    await form.locator("input[name=channel][value=email]").check()
    await form.get_by_role("button", name="保存").click()
    await expect(page.locator("#recipients tr", has_text=name)).to_be_visible()


async def test_recipients_rota_maintenance_mail_ack_link_and_history(
        notify_hall: HallProcess, browser: ContextBrowser,
        mail: tuple[MailSink, int]) -> None:
    sink, _ = mail
    # 1. The admin adds the recipients; a channel without its address is refused in words.
    admin = await browser.new_page(LAPTOP)
    await admin.goto(f"{notify_hall.base}/pages/notify-settings.html")
    await log_in(admin, "admin")
    await expect(admin.locator("#channels")).to_contain_text("邮件: ✓")
    await expect(admin.locator("#channels")).to_contain_text("短信: 未配置")
    form = admin.locator("#recipient-form")
    await form.locator("input[name=name]").fill("王五")
    await form.locator("input[name=channel][value=sms]").check()
    await form.get_by_role("button", name="保存").click()
    await expect(admin.locator("#message")).to_have_text("所选渠道缺少地址")
    await form.locator("input[name=channel][value=sms]").uncheck()
    await add_recipient(admin, "张工", "oncall", "zhang@campus.edu.cn")
    await add_recipient(admin, "李主管", "supervisor", "li@campus.edu.cn")
    await assert_no_raw_codes(admin, "notify settings")
    await check_journey(admin, "notify settings")
    await screenshot(admin, "notify-settings-zh")

    # 2. Facilities staff put 张工 on call today and hold notifications for one lock.
    rota = await browser.new_page(LAPTOP)
    await rota.goto(f"{notify_hall.base}/pages/")
    await rota.get_by_role("link", name="值班表与维护窗口").click()
    await log_in(rota, "fac1")
    await expect(rota.locator("#oncall-now")).to_contain_text("无人值班")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).weekday()
    shift = rota.locator("#shift-form")
    await shift.locator("select[name=recipient]").select_option(label="张工")
    await shift.locator("select[name=weekday]").select_option(str(today))
    await shift.locator("input[name=start]").fill("00:00")
    await shift.locator("input[name=end]").fill("00:00")   # a whole day
    await shift.get_by_role("button", name="添加").click()
    await expect(rota.locator("#oncall-now")).to_have_text("张工")
    windows = rota.locator("#window-form")
    await windows.locator("input[name=device]").fill("lock-maint")
    await windows.locator("input[name=site]").fill("dorm-north")
    await windows.locator("input[name=reason]").fill("更换锁芯")
    await windows.get_by_role("button", name="添加").click()
    await expect(rota.locator("#window-message")).to_have_text("请填写设备编号或位置之一（只填一个）")
    await windows.locator("input[name=site]").fill("")
    await windows.get_by_role("button", name="添加").click()
    await expect(rota.locator("#windows tr", has_text="lock-maint")).to_contain_text("进行中")
    await assert_no_raw_codes(rota, "rota")
    await check_journey(rota, "rota")
    await screenshot(rota, "notify-rota-zh")

    # 3. Two forced doors over the real broker: one reaches 张工 by mail, the other is held.
    async with raw_device(notify_hall.mqtt_url, notify_hall.prefix, "lock-web-1") as lock, \
            raw_device(notify_hall.mqtt_url, notify_hall.prefix, "lock-maint") as held:
        for device in (lock, held):
            await device.birth("door_lock")
        await eventually(lambda: len(notify_hall.call("GET", "/devices")) == 2, 15,
                         what="both locks registered")
        await held.event("door.forced", {"mode": "normal"})
        await lock.event("door.forced", {"mode": "normal"})
        mails = await eventually(lambda: sink.to("zhang@campus.edu.cn"), 15, what="the mail")
    assert mails[0].message["Subject"] == "[严重] 门被强行打开 — lock-web-1"
    link = LINK.search(mails[0].message.get_content())
    assert link is not None

    # 4. The link opens the acknowledgement page (no login), which asks before it acts.
    ack = await browser.new_page(LAPTOP)
    await ack.goto(link.group(1))
    await expect(ack.locator("#alarm")).to_contain_text("门被强行打开 — lock-web-1")
    await ack.get_by_role("button", name="确认此告警").click()
    await expect(ack.locator("#result")).to_have_text("已确认，升级已停止。")
    await expect(ack.get_by_role("button", name="确认此告警")).to_be_hidden()
    await screenshot(ack, "alarm-ack-zh")
    forged = await browser.new_page(LAPTOP)
    await forged.goto(link.group(1)[:-3] + "xyz")
    await expect(forged.locator("#result")).to_have_text("链接无效")

    # 5. The alarm history shows each step, and the held alarm marked in maintenance.
    alarms = {a["device_id"]: a["id"] for a in notify_hall.call("GET", "/alarms")}
    history = await browser.new_page(LAPTOP)
    await history.goto(f"{notify_hall.base}/pages/alarm-history.html?id={alarms['lock-web-1']}")
    await log_in(history, "fac1")
    steps = history.locator("#steps")
    await expect(steps.locator("li[data-kind=notified]")).to_contain_text("已通知: 张工 · 邮件")
    await expect(steps.locator("li[data-kind=stopped]")).to_contain_text(
        "停止升级：已确认（link:张工）")
    await expect(history.locator("#deliveries .state")).to_have_text(["已送达"])
    await assert_no_raw_codes(history, "alarm history")
    await check_journey(history, "alarm history")
    await screenshot(history, "alarm-history-zh")
    await history.locator(f"tr[data-alarm='{alarms['lock-maint']}']").click()
    await expect(history.locator("#alarm-facts")).to_contain_text("维护中（未通知）")
    await expect(steps.locator("li[data-kind=maintenance]")).to_contain_text("更换锁芯")
    assert len(sink.mails) == 1

    # 6. The dashboard marks the held alarm and links each alarm to its notifications.
    await rota.goto(f"{notify_hall.base}/pages/facilities.html")
    held_row = rota.locator("#alarms tr[data-device=lock-maint]")
    await expect(held_row).to_contain_text("维护中")
    await expect(rota.locator("#alarms tr[data-device=lock-web-1]")).not_to_contain_text("维护中")
    await held_row.get_by_role("link", name="通知记录").click()
    await expect(rota.locator("li[data-kind=maintenance]")).to_contain_text("更换锁芯")
    await rota.goto(f"{notify_hall.base}/pages/notify-rota.html")

    await history.locator("#lang").click()
    await expect(history.locator("#alarm-facts")).to_contain_text("in maintenance (nobody told)")
    await history.locator(f"tr[data-alarm='{alarms['lock-web-1']}']").click()
    await expect(steps.locator("li[data-kind=stopped]")).to_contain_text(
        "Escalation stopped: acknowledged (link:张工)")
    await check_journey(history, "alarm history (English)")
    await screenshot(history, "alarm-history-en")
    await rota.reload()
    await expect(rota.locator("h2").first).to_have_text("On call now")
    await expect(rota.locator("#windows tr", has_text="lock-maint")).to_contain_text("running")
