"""Services are read by their names, never their codes, in Chinese and in English: on the
statistics page (table and charts), the window terminal and the public display. The charts
label both axes, the value axis with its unit. The online cases show in the statistics: a
ticket linked to a case, a visit ended in pending materials (补正), the second visit that
resolved it, and the one-trip rate that follows."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, TV, ContextBrowser, screenshot
from tests.browser.hall_process import HallProcess
from tests.browser.pages import display_controls, live, log_in

CODES = {"student-id", "transcript", "dorm", "finance"}
PERSON = "2024010001"
CARD = "C20240001"   # the applicant's campus card, read by the kiosk's card reader


def take(hall: HallProcess, service: str, card: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"service": service, "request_id": str(uuid.uuid4())}
    if card is not None:
        body["identity"] = {"type": "campus_card", "value": card}
    response = httpx.post(f"{hall.api}/kiosk/tickets", json=body, timeout=15, headers={
        "X-Kiosk-Device": "kiosk-web-1", "X-Kiosk-Key": hall.kiosk_key("kiosk-web-1")})
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def serve(hall: HallProcess, outcome: str, reason: str | None = None) -> None:
    hall.call("POST", "/windows/w3/call-next", user="clerk1")
    hall.call("POST", "/windows/w3/start", user="clerk1")
    hall.call("POST", "/windows/w3/complete", user="clerk1",
              json={"outcome": outcome, "reason": reason})


def a_case_and_two_visits(hall: HallProcess) -> None:
    """The platform files a dorm case; its applicant comes, is sent home for a signature,
    comes again and is done. A finance visitor waits."""
    key = hall.call("POST", "/integration/keys",
                    json={"name": "platform", "scopes": ["cases:write"]})["api_key"]
    response = httpx.put(f"{hall.api}/integration/cases/YW-1", headers={"X-Api-Key": key},
                         timeout=15, json={
                             "service_code": "dorm", "status": "awaiting_visit",
                             "applicant": {"person_id": PERSON, "campus_card": CARD,
                                           "name": "王芳"},
                             "materials": [{"code": "form", "name": "宿舍调整申请表"}]})
    assert response.status_code == 201, response.text
    hall.call("POST", "/windows/w3/open", user="clerk1")
    assert take(hall, "dorm", CARD)["cases"], "the kiosk linked the case"
    serve(hall, "pending_materials", "缺少辅导员签字")
    assert take(hall, "dorm", CARD)["cases"], "the second visit is linked too"
    serve(hall, "resolved")
    take(hall, "finance")


async def chart_labels(page: Page, chart: str) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("""(chart) => {
        const svg = document.querySelector(`#${chart} svg`);
        const texts = (sel) => [...svg.querySelectorAll(sel)].map((e) => e.textContent);
        const labels = (sel) => [...svg.querySelectorAll(sel)].map((e) => e.dataset.label);
        return { value: texts(".value-title"), category: texts(".category-title"),
                 ticks: texts(".value-tick"), groups: labels(".category-tick"),
                 legend: labels(".legend") };
    }""", chart)
    return result


async def test_statistics_name_services_and_label_both_axes_in_chinese_and_english(
        hall: HallProcess, browser: ContextBrowser) -> None:
    a_case_and_two_visits(hall)
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/stats.html")
    await log_in(page, "admin")
    dorm = page.locator("#rows tr[data-service=dorm]")
    await expect(dorm.locator("td.service-name")).to_have_text("宿舍事务")
    names = await page.locator("#rows td.service-name").all_inner_texts()
    assert sorted(names) == sorted(["学生证办理", "成绩单与证明", "宿舍事务", "财务缴费"])
    # The online case: two linked visits, one sent home for a document, resolved on the
    # second trip, so the day's one-trip rate is a number: 0 of 1.
    await expect(dorm.locator("td").nth(7)).to_have_text("2")      # linked
    await expect(dorm.locator("td").nth(8)).to_have_text("1")      # pending materials
    await expect(page.locator("#linked-total")).to_have_text("2")
    await expect(page.locator("#one-trip")).to_have_text("0%")
    await expect(page.locator("#one-trip-detail")).to_contain_text("跑了两次及以上 1 件")

    waits = await chart_labels(page, "waits-chart")
    assert waits["value"] == ["等候时间（分钟）"] and waits["category"] == ["业务"]
    assert len(waits["ticks"]) >= 2 and waits["ticks"][0] == "0"
    assert all(float(tick) >= 0 for tick in waits["ticks"])
    assert "宿舍事务" in waits["groups"] and not CODES & set(waits["groups"])
    trend = await chart_labels(page, "trend-chart")
    assert trend["value"] == ["平均等候（分钟）"] and trend["category"] == ["日期"]
    assert "财务缴费" in trend["legend"] and not CODES & set(trend["legend"])
    # Each service's target wait is a dashed line over its bars, in the legend, and the
    # rates are explained under the table with their targets.
    targets = await page.locator("#waits-chart line.target-line[data-target]").evaluate_all(
        "(lines) => lines.map((l) => Number(l.dataset.target))")
    assert sorted(targets) == [15.0, 15.0, 15.0, 20.0], targets   # finance waits up to 20
    await expect(page.locator("#waits-chart .target-legend")).to_have_text("目标等候")
    await expect(page.locator("#explain")).to_contain_text("服务达标率：")
    await expect(page.locator("#explain")).to_contain_text("财务缴费 20.0 分钟")
    await expect(page.locator("#explain")).to_contain_text("只跑一次率：")
    await expect(page.locator("#empty")).to_be_hidden()
    await screenshot(page, "stats-names-axes-zh")

    await page.locator("#lang").click()
    await expect(dorm.locator("td.service-name")).to_have_text("Dormitory affairs")
    await expect(page.locator("#one-trip-detail")).to_contain_text("in two or more: 1")
    waits = await chart_labels(page, "waits-chart")
    assert waits["value"] == ["Wait (min)"] and waits["category"] == ["Service"]
    assert "Transcripts and certificates" in waits["groups"]
    assert not CODES & set(waits["groups"])
    trend = await chart_labels(page, "trend-chart")
    assert trend["value"] == ["Mean wait (min)"] and "Fees and payments" in trend["legend"]
    body = await page.locator("main").inner_text()
    assert not [code for code in CODES if code in body], body
    await screenshot(page, "stats-names-axes-en")
    # A day without tickets says so instead of an empty chart.
    await page.locator("#day").fill("2020-01-06")
    await expect(page.locator("#empty")).to_have_text(
        "No tickets on 2020-01-06 (the hall was closed, or nobody has taken one yet).")
    await expect(page.locator("#waits-card")).to_be_hidden()


async def test_the_window_terminal_and_the_display_name_services(
        hall: HallProcess, browser: ContextBrowser) -> None:
    take(hall, "finance")
    clerk = await browser.new_page(LAPTOP)
    await clerk.goto(f"{hall.base}/pages/window.html")
    await log_in(clerk, "clerk1")
    await clerk.locator("#window-select").select_option("w3")
    await clerk.locator("#open").click()
    await expect(clerk.locator("#queue tr[data-ticket]")).to_have_count(1)
    await expect(clerk.locator("#queue")).to_contain_text("财务缴费")
    await clerk.locator("#lang").click()
    await expect(clerk.locator("#queue")).to_contain_text("Fees and payments")
    await clerk.locator("#act-call").click()
    await expect(clerk.locator("#current-state")).to_contain_text("Fees and payments")
    assert "finance" not in await clerk.locator("#terminal").inner_text()

    display = await browser.new_page(TV)
    await display.goto(f"{hall.base}/pages/display.html")
    await live(display)
    # The display opens in English: the language is remembered per browser.
    await expect(display.locator("#waiting li[data-service=dorm] span").first).to_have_text(
        "Dormitory affairs")
    await display_controls(display)
    await display.locator("#lang").click()
    await expect(display.locator("#waiting li[data-service=dorm] span").first).to_have_text(
        "宿舍事务")
