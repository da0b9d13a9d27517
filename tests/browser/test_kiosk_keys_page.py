"""An admin creates a browser kiosk's key on the users page, the kiosk is set up with it and
issues a ticket; the admin revokes it and the kiosk is refused at its next request, back at its
setup screen. In Chinese (the default) and after the English switch."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import LAPTOP, TV, ContextBrowser, screenshot
from tests.browser.hall_process import HallProcess
from tests.browser.pages import log_in


async def test_an_admin_creates_a_kiosk_key_the_kiosk_uses_it_until_it_is_revoked(
        hall: HallProcess, browser: ContextBrowser) -> None:
    admin = await browser.new_page(LAPTOP)
    await admin.goto(f"{hall.base}/pages/users.html")
    await log_in(admin, "admin")
    section = admin.locator("#kiosk-admin")
    await expect(section.locator("h2")).to_have_text("自助机密钥")
    await section.locator("input[name=device]").fill("kiosk-lobby-1")
    await section.locator("input[name=name]").fill("一楼大厅 左")
    await section.get_by_role("button", name="生成密钥").click()
    await expect(admin.locator("#kiosk-created")).to_be_visible()
    key = (await admin.locator("#kiosk-key").text_content() or "").strip()
    assert key.startswith("kk_")
    row = admin.locator("tr[data-device=kiosk-lobby-1]")
    await expect(row.locator(".state")).to_have_text("有效")
    await expect(row).to_contain_text("从未使用")
    await screenshot(admin, "kiosk-keys-zh")

    kiosk = await browser.new_page(TV)
    await kiosk.goto(f"{hall.base}/pages/kiosk.html")
    await kiosk.locator("#setup-form input[name=device]").fill("kiosk-lobby-1")
    await kiosk.locator("#setup-form input[name=key]").fill(key)
    await kiosk.locator("#setup-form button").click()
    await kiosk.get_by_role("button", name="学生证办理").click()
    await kiosk.get_by_role("button", name="跳过，直接取号").click()
    await expect(kiosk.locator("#ticket")).to_be_visible()
    await expect(kiosk.locator("#ticket-number")).not_to_be_empty()

    # The list says the key was used; the key itself is nowhere on the page after a reload.
    await admin.reload()
    await expect(row).not_to_contain_text("从未使用")
    assert key not in await admin.content()

    await admin.locator("#lang").click()
    await expect(section.locator("h2")).to_have_text("Kiosk keys")
    await row.get_by_role("button", name="Revoke").click()
    await expect(row.locator(".state")).to_have_text("revoked")
    await expect(row.get_by_role("button")).to_have_count(0)
    await screenshot(admin, "kiosk-keys-en")

    # The kiosk's next request is refused, and it asks to be set up again.
    await kiosk.get_by_role("button", name="完成").click()
    await kiosk.reload()
    await expect(kiosk.locator("#setup")).to_be_visible()
    # The admin switched this browser to English above.
    await expect(kiosk.locator("#message")).to_have_text(
        "This kiosk is not set up, or its key is not valid; please ask a member of staff")
