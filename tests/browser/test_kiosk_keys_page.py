"""An admin pairs a browser kiosk from the users page (or creates a key for an API client, shown
once); the kiosk issues a ticket and its key is listed as used; the admin revokes it and the
kiosk is refused at its next request, back at its setup screen with a message in words. In
Chinese (the default) and after the English switch."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import LAPTOP, TV, ContextBrowser, screenshot
from tests.browser.hall_process import HallProcess
from tests.browser.pages import log_in


async def test_an_admin_pairs_a_kiosk_the_kiosk_uses_its_key_until_it_is_revoked(
        hall: HallProcess, browser: ContextBrowser) -> None:
    admin = await browser.new_page(LAPTOP)
    await admin.goto(f"{hall.base}/pages/users.html")
    await log_in(admin, "admin")
    section = admin.locator("#kiosk-admin")
    await expect(section.locator("h2")).to_have_text("自助机密钥")
    # A key for an API client: shown once.
    await section.locator("input[name=device]").fill("kiosk-api-1")
    await section.get_by_role("button", name="生成密钥").click()
    await expect(admin.locator("#kiosk-created")).to_be_visible()
    key = (await admin.locator("#kiosk-key").text_content() or "").strip()
    assert key.startswith("kk_")
    # A browser kiosk: a pairing code.
    await section.locator("input[name=device]").fill("kiosk-lobby-1")
    await section.locator("input[name=name]").fill("一楼大厅 左")
    await section.get_by_role("button", name="生成配对码").click()
    await expect(admin.locator("#kiosk-paired")).to_be_visible()
    await expect(admin.locator("#kiosk-created")).to_be_hidden()
    code = (await admin.locator("#kiosk-code").text_content() or "").strip()
    await screenshot(admin, "kiosk-keys-zh")

    kiosk = await browser.new_page(TV)
    await kiosk.goto(f"{hall.base}/pages/kiosk.html")
    await kiosk.locator("#setup-form input[name=code]").fill(code)
    await kiosk.locator("#setup-form button").click()
    await kiosk.get_by_role("button", name="学生证办理").click()
    await kiosk.get_by_role("button", name="跳过，直接取号").click()
    await expect(kiosk.locator("#ticket")).to_be_visible()
    await expect(kiosk.locator("#ticket-number")).not_to_be_empty()

    # The list has the paired kiosk's key, used; no key is anywhere on the page after a reload.
    await admin.reload()
    row = admin.locator("tr[data-device=kiosk-lobby-1][data-key]")
    await expect(row.locator(".state")).to_have_text("有效")
    await expect(row).not_to_contain_text("从未使用")
    await expect(admin.locator("tr[data-device=kiosk-api-1][data-key]")).to_contain_text("从未使用")
    content = await admin.content()
    assert key not in content and code not in content

    await admin.locator("#lang").click()
    await expect(section.locator("h2")).to_have_text("Kiosk keys")
    await row.get_by_role("button", name="Revoke").click()
    await expect(row.locator(".state")).to_have_text("revoked")
    await expect(row.get_by_role("button")).to_have_count(0)
    await screenshot(admin, "kiosk-keys-en")

    # The kiosk's next request is refused, and it asks to be set up again, in words (in
    # English: the admin's switch is this browser profile's language).
    await kiosk.get_by_role("button", name="完成").click()
    await kiosk.reload()
    await expect(kiosk.locator("#setup")).to_be_visible()
    await expect(kiosk.locator("#message")).to_have_text(
        "This kiosk is not set up, or it was switched off; ask an admin for a pairing code.")
