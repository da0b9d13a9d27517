"""Checks every journey test makes at every viewport and in both languages (issue 19's "How to
check"): nothing wider than the screen, and no raw code or enum value shown to a person who
reads Chinese.

The raw codes come from the code itself (the enums people would otherwise see, the device
alarm types), so a new state or alarm type is checked without editing this file.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Page

from devices.kinds import DeviceKind
from hall_controller.cases.rules import CaseStatus
from hall_controller.fleet.device_alarms import HARDWARE_FAULT, RULES, Raise
from hall_controller.fleet.model import AlarmSeverity, AlarmStatus, CommandStatus
from hall_controller.queue.model import TicketState

# The three screens the issue walked: a clerk's laptop, a hall PC, a portrait kiosk.
VIEWPORTS: dict[str, dict[str, int]] = {
    "1366x768": {"width": 1366, "height": 768},
    "1920x1080": {"width": 1920, "height": 1080},
    "1080x1920": {"width": 1080, "height": 1920},
}
LANGUAGES = ("zh-CN", "en")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def raw_codes() -> frozenset[str]:
    """Words that mean a page showed a code instead of its translation."""
    codes: set[str] = set()
    for enum in (TicketState, CaseStatus, AlarmSeverity, AlarmStatus, CommandStatus, DeviceKind):
        codes.update(str(member.value) for member in enum)
    codes.update(RULES)
    codes.update(rule.alarm for rule in RULES.values() if isinstance(rule, Raise))
    codes.add(HARDWARE_FAULT)
    codes.update({"device.offline", "Failed to fetch", "Internal Server Error", "Not Found"})
    return frozenset(codes)


async def assert_no_horizontal_overflow(page: Page, where: str) -> None:
    """The page does not scroll sideways, and no visible element sticks out to the right."""
    found = await page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const out = [];
        for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            if (box.width === 0 || box.height === 0) continue;
            const style = getComputedStyle(el);
            if (style.visibility === 'hidden' || style.position === 'fixed') continue;
            if (box.right > width + 1) {
                out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}` +
                         `${el.className && typeof el.className === 'string' ? '.' +
                            el.className.trim().split(/\\s+/).join('.') : ''}` +
                         ` right=${Math.round(box.right)}`);
            }
        }
        return {scroll: document.documentElement.scrollWidth, width, out: out.slice(0, 10)};
    }""")
    assert found["scroll"] <= found["width"] + 1 and not found["out"], (
        f"{where}: the page is {found['scroll']} px wide on a {found['width']} px screen; "
        f"sticking out: {found['out']}")


async def assert_no_raw_codes(page: Page, where: str, *, allowed: frozenset[str] = frozenset()) -> None:
    """In zh-CN mode, no enum value, alarm type or browser error reaches the reader."""
    text = await page.locator("body").inner_text()
    codes = raw_codes() - allowed
    shown = sorted({code for code in codes if _shown(code, text)})
    assert not shown, f"{where}: raw codes shown to a Chinese reader: {shown}"


def _shown(code: str, text: str) -> bool:
    pattern = r"(?<![\w\-./])" + re.escape(code) + r"(?![\w\-])"
    return re.search(pattern, text) is not None


async def screenshot(page: Page, name: str) -> None:
    """Keep what the page looked like, for a person to look at before closing the issue."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
