"""The pages and the API docs work under their Content-Security-Policy in a real Chromium: every
script they need runs (the page draws itself), and the console reports no violation."""

from __future__ import annotations

from playwright.async_api import ConsoleMessage, Page, expect

from tests.browser.conftest import LAPTOP, ContextBrowser
from tests.browser.hall_process import HallProcess
from tests.browser.pages import display_controls, log_in, pair_kiosk
from tests.support.waiting import eventually

REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# (page, who logs in): every page of the hall.
MAIN_PAGES = [("index.html", None), ("display.html", None), ("kiosk.html", None),
              ("window.html", "clerk1"), ("facilities.html", "fac1"),
              ("device.html?id=lock-1", "fac1"), ("stats.html", "admin"),
              ("users.html", "admin"), ("alarm-rules.html", "fac1")]


def policy_violations(page: Page) -> list[str]:
    """What the console of ``page`` says the policy blocked, from now on."""
    violations: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", note)
    return violations


async def test_the_pages_run_under_their_policy_with_no_violation(
        hall: HallProcess, browser: ContextBrowser) -> None:
    for name, user in MAIN_PAGES:
        page = await browser.new_page(LAPTOP)
        violations = policy_violations(page)
        response = await page.goto(f"{hall.base}/pages/{name}")
        assert response is not None
        policy = await response.header_value("content-security-policy") or ""
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy, policy
        if user is not None:
            await log_in(page, user)
        # The language switch is put there by the page's module: the script ran.
        if name == "display.html":
            await display_controls(page)   # public: the controls come after a staff login
        await expect(page.locator("#lang")).to_be_visible()
        if name == "kiosk.html":
            await pair_kiosk(page, hall, "kiosk-web-1")
            await expect(page.get_by_role("button", name="学生证办理")).to_be_visible()
        assert violations == [], f"{name}: {violations}"
        await page.close()


async def test_the_api_docs_run_their_inline_script_by_nonce_only(
        hall: HallProcess, browser: ContextBrowser) -> None:
    page = await browser.new_page(LAPTOP)
    violations = policy_violations(page)
    response = await page.goto(f"{hall.base}/docs")
    assert response is not None
    policy = await response.header_value("content-security-policy") or ""
    assert "'nonce-" in policy and "script-src 'self' 'nonce-" in policy, policy
    await expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
    assert violations == []

    # An inline script without the nonce, as an injection would be, does not run.
    ran = await page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.append(script);
        return window.injected === true;
    }""")
    assert ran is False
    await eventually(lambda: violations, what="the console to report the blocked script")
    await page.close()

    page = await browser.new_page(LAPTOP)
    violations = policy_violations(page)
    await page.goto(f"{hall.base}/redoc")
    await expect(page.get_by_role("menuitem", name="access")).to_be_visible(timeout=15_000)
    # ReDoc's bundle asks for the Redocly logo on a CDN: the policy blocks it, and nothing else.
    assert [v for v in violations if REDOCLY_LOGO not in v] == [], violations
