"""Device provisioning on the facilities page (admin only): the bundle is shown once and is
the config ``hall edge`` reads; re-key and revoke; facilities staff never see the section. In
Chinese (the default) and after the English switch."""

from __future__ import annotations

import asyncio
import tomllib

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, ContextBrowser, screenshot
from tests.browser.hall_process import HallProcess
from tests.browser.pages import log_in


def provisioning_listing(hall: HallProcess, user: str) -> httpx.Response:
    return httpx.get(f"{hall.api}/provisioning", timeout=10,
                     headers={"Authorization": f"Bearer {hall.token(user)}"})


async def confirm(page: Page, button: str) -> None:
    """Confirm in the page's dialog (note-dialog.js), which names the action on its button."""
    await page.locator("#note-dialog").get_by_role("button", name=button).click()


async def bundle_on(page: Page) -> dict[str, dict[str, str]]:
    await expect(page.locator("#bundle")).to_be_visible()
    return tomllib.loads(await page.locator("#bundle-text").text_content() or "")


async def test_an_admin_provisions_rekeys_and_revokes_a_device(
        hall: HallProcess, browser: ContextBrowser) -> None:
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/facilities.html")
    await log_in(page, "admin")
    section = page.locator("#provisioning")
    await expect(section.locator("h2")).to_have_text("设备开通（管理员）")
    form = page.locator("#provision-form")
    await form.locator("input[name=device_id]").fill("lock-b3-0412")
    await form.locator("select[name=kind]").select_option(label="门锁")
    await form.locator("input[name=site]").fill("dorm-3")
    await form.get_by_role("button", name="开通").click()
    first = await bundle_on(page)
    assert first["edge"]["device_id"] == "lock-b3-0412"
    assert first["edge"]["kind"] == "door_lock" and first["edge"]["site"] == "dorm-3"
    assert first["mqtt"]["url"].startswith("mqtt://lock-b3-0412:")
    await expect(section.locator(".warn")).to_contain_text("只显示这一次")
    await screenshot(page, "provisioning-zh")
    await page.get_by_role("button", name="已保存，关闭").click()
    await expect(page.locator("#bundle")).to_be_hidden()
    assert await page.locator("#bundle-text").text_content() == ""
    row = page.locator("tr[data-provisioned=lock-b3-0412]")
    await expect(row.locator(".status")).to_have_text("有效")
    # The listing the page reads holds no secret.
    listing = (await asyncio.to_thread(provisioning_listing, hall, "admin")).text
    assert first["edge"]["command_key"] not in listing and "password" not in listing

    await page.locator("#lang").click()
    await expect(section.locator("h2")).to_have_text("Device provisioning (admin)")
    await row.get_by_role("button", name="Re-key").click()
    await confirm(page, "Re-key")
    second = await bundle_on(page)
    assert second["edge"]["command_key"] != first["edge"]["command_key"]
    assert second["mqtt"]["url"] != first["mqtt"]["url"]
    await page.get_by_role("button", name="Saved, close").click()

    await row.get_by_role("button", name="Revoke").click()
    await expect(page.locator("#note-dialog")).to_contain_text("lock-b3-0412")
    await confirm(page, "Revoke")
    await expect(row.locator(".status")).to_have_text("revoked")
    await expect(row.get_by_role("button")).to_have_count(0)
    await screenshot(page, "provisioning-en")


async def test_facilities_staff_do_not_see_provisioning(
        hall: HallProcess, browser: ContextBrowser) -> None:
    page = await browser.new_page(LAPTOP)
    await page.goto(f"{hall.base}/pages/facilities.html")
    await log_in(page, "fac1")
    await expect(page.locator("#devices")).to_be_attached()
    await expect(page.locator("#provisioning")).to_be_hidden()
    refused = await asyncio.to_thread(provisioning_listing, hall, "fac1")
    assert refused.status_code == 403
