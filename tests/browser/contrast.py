"""Text contrast as a reader sees it, computed in the browser (WCAG 2.x relative luminance).

The colours are the computed ones; the element's opacity (its own and its ancestors', and the
lowest an animation running on it reaches) is blended over the background behind it, so a
badge that fades while it blinks is judged at its faintest.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Locator

_CONTRAST_JS = """(el) => {
  const rgba = (text) => {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const [r, g, b, a = 1] = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [r, g, b, a];
  };
  const over = (top, below) => top.slice(0, 3).map((c, i) => c * top[3] + below[i] * (1 - top[3]));
  // The opaque background behind ``node``: its ancestors' backgrounds, blended bottom up.
  const behind = (node) => {
    const layers = [];
    for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
      layers.push(rgba(getComputedStyle(n).backgroundColor));
    }
    let colour = [255, 255, 255];
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  let opacity = 1;
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    opacity *= Number(getComputedStyle(n).opacity);
  }
  let faintest = 1;
  for (const animation of el.getAnimations()) {
    for (const frame of animation.effect.getKeyframes()) {
      if (frame.opacity !== undefined) faintest = Math.min(faintest, Number(frame.opacity));
    }
  }
  opacity *= faintest;
  const style = getComputedStyle(el);
  const under = behind(el.parentElement);
  const own = rgba(style.backgroundColor);
  const background = over([...over(own, under), opacity], under);
  const textColour = rgba(style.color);
  const text = over([...textColour.slice(0, 3), textColour[3] * opacity], background);
  const luminance = ([r, g, b]) => {
    const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const [hi, lo] = [luminance(text), luminance(background)].sort((a, b) => b - a);
  return { ratio: (hi + 0.05) / (lo + 0.05), text, background, opacity,
           fontSize: style.fontSize, fontWeight: style.fontWeight };
}"""


async def contrast(locator: Locator) -> dict[str, Any]:
    """``{"ratio": ..., "text": [r, g, b], "background": [r, g, b], "opacity": ...}``."""
    found: dict[str, Any] = await locator.evaluate(_CONTRAST_JS)
    return found


async def assert_contrast_aa(locator: Locator, where: str, *, minimum: float = 4.5) -> float:
    """WCAG AA for normal text: at least 4.5:1, at the element's faintest."""
    found = await contrast(locator)
    assert found["ratio"] >= minimum, (
        f"{where}: contrast {found['ratio']:.2f}:1 is under {minimum}:1 ({found})")
    return float(found["ratio"])
