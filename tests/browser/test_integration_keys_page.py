"""The online platform's API keys on a page, no curl: an admin lists them, creates one (its key
shown once, working at once), and revokes one after a confirmation (refused from then on)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import LAPTOP, ContextBrowser
from tests.browser.hall_process import HallProcess
from tests.browser.journeys import assert_no_horizontal_overflow, assert_no_raw_codes, screenshot
from tests.browser.module_hall import module_browser, module_hall, set_language, tabs
from tests.browser.pages import log_in

__all__ = ["module_browser", "module_hall", "tabs"]  # fixtures, imported to be found
pytestmark = pytest.mark.asyncio(loop_scope="module")


def feed_status(hall: HallProcess, key: str) -> int:
    """What the platform gets when it reads the case event feed with ``key``."""
    return httpx.get(f"{hall.api}/integration/events", headers={"X-Api-Key": key},
                     timeout=10).status_code


async def test_an_admin_creates_a_key_sees_it_once_and_revokes_it(
        module_hall: HallProcess, tabs: ContextBrowser) -> None:
    page = await tabs.new_page(LAPTOP)
    await page.goto(f"{module_hall.base}/pages/")
    await set_language(page, "zh-CN")
    await page.get_by_role("link", name="平台接口密钥").click()
    await log_in(page, "admin")
    await expect(page.locator("#keys")).to_contain_text("还没有密钥")

    # A key for the platform, reading cases and events only.
    await page.get_by_label("名称").fill("一网通办正式环境")
    await page.get_by_label("写入办件").uncheck()
    await page.get_by_role("button", name="生成密钥").click()
    shown = page.locator("#created-key")
    await expect(shown).to_have_text(re.compile(r"^hk_[a-z0-9]{12}_\S{20,}$"))
    key = await shown.inner_text()
    assert key.startswith("hk_")
    assert feed_status(module_hall, key) == 200            # works at once
    row = page.locator("#keys tr[data-key]")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("一网通办正式环境")
    await expect(row).to_contain_text("读取办件、读取事件")
    await expect(row).to_contain_text("有效")
    await assert_no_horizontal_overflow(page, "keys page with a new key")
    await assert_no_raw_codes(page, "keys page with a new key")
    await screenshot(page, "integration-keys-created-1366x768-zh-CN")

    # Closed, the key is gone from the page and never shown again, not even after a reload.
    await page.get_by_role("button", name="已保存，关闭").click()
    await expect(page.locator("#created")).to_be_hidden()
    await page.reload()
    await expect(row).to_have_count(1)
    assert key not in await page.content()

    # Nothing ticked: the page says so, nothing is created.
    await page.get_by_label("名称").fill("no scopes")
    for scope in ("读取办件", "写入办件", "读取事件"):
        await page.get_by_label(scope).uncheck()
    await page.get_by_role("button", name="生成密钥").click()
    await expect(page.locator("#message")).to_have_text("请至少选择一项权限")
    await expect(row).to_have_count(1)

    # Revoke: cancelled, the key still works; confirmed, it is refused from the next request.
    dialog = page.locator("#note-dialog")
    await row.get_by_role("button", name="吊销").click()
    await expect(dialog).to_contain_text("一网通办正式环境")
    await expect(dialog.locator("textarea")).to_be_hidden()
    await dialog.get_by_role("button", name="取消").click()
    assert feed_status(module_hall, key) == 200
    await row.get_by_role("button", name="吊销").click()
    await dialog.get_by_role("button", name="吊销").click()
    await expect(row).to_contain_text("已吊销")
    await expect(row.get_by_role("button")).to_have_count(0)
    assert feed_status(module_hall, key) == 401

    await set_language(page, "en")
    await expect(row).to_contain_text("revoked")
    await expect(row).to_contain_text("read cases, read events")
    await screenshot(page, "integration-keys-revoked-1366x768-en")


async def test_the_keys_page_is_for_admins_only(module_hall: HallProcess, tabs: ContextBrowser) -> None:
    page = await tabs.new_page(LAPTOP)
    await page.goto(f"{module_hall.base}/pages/integration-keys.html")
    await set_language(page, "zh-CN")
    form = page.locator("#login-form")
    await form.locator("input[name=username]").fill("fac1")
    await form.locator("input[name=password]").fill("browser-pass-123")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#login-error")).to_contain_text("此页面需要以下角色之一")
    await expect(page.locator("#keys tr")).to_have_count(0)
