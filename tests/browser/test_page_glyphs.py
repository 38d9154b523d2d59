"""The mail-link pages and the passkeys page in Chinese and Japanese, drawn by Chromium: every
character of the page has a glyph (no empty "tofu" boxes), which needs CJK fonts on the machine (.ci/run installs Noto CJK)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from playwright.async_api import expect

from shop.auth.catalogs import PAGES
from tests.support.browser import OutsideRequests, guarded_context, screenshot_path
from tests.support.serve import ShopServer

CJK = [language for language in ("zh", "ja") if language in PAGES.languages]
# Each page drawn, and its heading (a message of the `pages` catalog).
DRAWN = {"/verify-email?token=": "Confirm your email address", "/passkeys": "Passkeys"}

# Draws each character of an element in the element's own font, and compares it with a character
# no font has (a private-use code point of plane 16), which Chromium draws as the empty box.
MISSING_GLYPHS = """
([selector, probes]) => {
  const element = document.querySelector(selector);
  const canvas = document.createElement("canvas");
  canvas.width = 96; canvas.height = 96;
  const context = canvas.getContext("2d", {willReadFrequently: true});
  const font = getComputedStyle(element).font;
  const draw = (character) => {
    context.clearRect(0, 0, 96, 96);
    context.font = font;
    context.fillText(character, 8, 64);
    return context.getImageData(0, 0, 96, 96).data.join(",");
  };
  const box = draw(String.fromCodePoint(0x10FFFD));
  const characters = [...new Set([...element.innerText, ...probes])].filter((c) => c.trim());
  return characters.filter((character) => draw(character) === box);
}
"""


@pytest.mark.parametrize("language", CJK)
@pytest.mark.parametrize("path", DRAWN)
async def test_cjk_pages_draw_every_character(
    shop_server: ShopServer, chromium: Any, outside_requests: OutsideRequests, language: str, path: str
) -> None:
    context = await guarded_context(
        chromium, outside_requests, locale=language, extra_http_headers={"Accept-Language": language}
    )
    try:
        page = await context.new_page()
        token = secrets.token_urlsafe(16) if path.endswith("=") else ""
        await page.goto(f"{shop_server.base_url}{path}{token}")
        await expect(page.locator("h1")).to_have_text(PAGES.gettext(language, DRAWN[path]))
        await page.screenshot(path=screenshot_path(f"glyphs-{language}-{path.strip('/').split('?')[0]}"))
        # The probe proves the check can fail: a code point no font has is reported.
        missing = await page.evaluate(MISSING_GLYPHS, ["main", ["\U0010fffc"]])
        assert missing == ["\U0010fffc"], f"characters drawn as empty boxes: {missing}"
    finally:
        await context.close()
