"""A supervisor's journey over the statistics (issue 19), in Chinese and English at the three
screens: nothing wider than the screen, no code shown to a Chinese reader, each rate explained
with its target, the target wait drawn as a line, and an empty day saying so.

One controller and one browser serve the module; each case opens its own tab.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, ContextBrowser
from tests.browser.hall_process import HallProcess
from tests.browser.journeys import (
    LANGUAGES,
    VIEWPORTS,
    assert_no_horizontal_overflow,
    assert_no_raw_codes,
    screenshot,
)
from tests.browser.module_hall import module_browser, module_hall, set_language, tabs
from tests.browser.pages import log_in
from tests.browser.test_stats_names_axes import a_case_and_two_visits

__all__ = ["module_browser", "module_hall", "tabs"]  # fixtures, imported to be found
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def day_of_visits(module_hall: HallProcess) -> HallProcess:
    """Today: an online case whose applicant came twice, and a finance visitor waiting."""
    a_case_and_two_visits(module_hall)
    return module_hall


async def stats_page(browser: ContextBrowser, hall: HallProcess, query: str = "") -> Page:
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/stats.html{query}")
    await log_in(page, "admin")
    return page


async def test_the_statistics_fit_every_screen_in_both_languages(
        day_of_visits: HallProcess, tabs: ContextBrowser) -> None:
    page = await stats_page(tabs, day_of_visits)
    for viewport_name, viewport in VIEWPORTS.items():
        await page.set_viewport_size(viewport)  # type: ignore[arg-type]
        for language in LANGUAGES:
            await set_language(page, language)
            await expect(page.locator("#rows tr[data-service=dorm]")).to_be_visible()
            await expect(page.locator("#waits-chart svg .target-line").first).to_be_attached()
            await expect(page.locator("#trend-chart svg")).to_have_count(1)
            # Each rate explained, the service level with each service's target.
            await expect(page.locator("#explain li")).to_have_count(4)
            where = f"stats at {viewport_name} in {language}"
            await assert_no_horizontal_overflow(page, where)
            if language == "zh-CN":
                await assert_no_raw_codes(page, where)
            await screenshot(page, f"journey-stats-{viewport_name}-{language}")
    await set_language(page, "zh-CN")
    await expect(page.locator("#explain")).to_contain_text("服务达标率：")
    await expect(page.locator("#explain")).to_contain_text("宿舍事务")
    await expect(page.locator("#one-trip-detail")).to_contain_text("一次办结 0 件，跑了两次及以上 1 件")


async def test_an_empty_day_says_so_in_both_languages(
        day_of_visits: HallProcess, tabs: ContextBrowser) -> None:
    page = await stats_page(tabs, day_of_visits, "?day=2020-01-06")
    await set_language(page, "zh-CN")
    empty = page.locator("#empty")
    await expect(empty).to_have_text("2020-01-06 没有取号记录（大厅未开放，或还没有人取号）。")
    await expect(page.locator("#waits-card")).to_be_hidden()
    await assert_no_raw_codes(page, "an empty day")
    await assert_no_horizontal_overflow(page, "an empty day")
    await set_language(page, "en")
    await expect(empty).to_contain_text("No tickets on 2020-01-06")
    await screenshot(page, "journey-stats-empty-day-1366x768-en")
