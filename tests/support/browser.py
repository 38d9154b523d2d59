"""The browser harness: a real `shop serve` on a free port, and Debian's Chromium driven by Playwright.

No browser is downloaded: Playwright drives /usr/bin/chromium (`apt-get install chromium`). Every
request a page makes to anything but the loopback addresses is recorded and refused, so a test can
assert that a page needs nothing from the internet.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import expect

from tests.support.ci import unavailable
from tests.support.serve import ShopServer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("SHOP_TEST_CHROMIUM", "/usr/bin/chromium"))
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-error"}
# How long a page may take to show what a test waits for: generous, for a loaded CI machine. Not a
# timed assertion: a test waits for a state, never for a speed.
WAIT_MS = 30_000


def require_browser() -> None:
    """Skip outside CI when Chromium or Playwright is missing; under CI=true, fail instead."""
    reason = None
    try:
        import playwright  # noqa: F401
    except ImportError:
        reason = "the Python package playwright is not installed (make install)"
    if reason is None and not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    if reason is None:
        return
    unavailable(f"browser tests need a browser: {reason}")


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or (parts.hostname or "") in LOOPBACK


@dataclass
class OutsideRequests:
    """URLs of every request a browser context tried to send beyond the loopback addresses."""

    urls: list[str] = field(default_factory=list)

    def note(self, url: str) -> None:
        if not is_local(url):
            self.urls.append(url)

    @staticmethod
    def is_local(url: str) -> bool:
        return is_local(url)


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"


def keep_log(server: ShopServer, name: str) -> None:
    """The server's log next to the screenshots: what the operator would have seen."""
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(server.log_path, ARTIFACTS / f"{name}.log")


async def guarded_context(chromium: Any, outside: OutsideRequests, **options: Any) -> Any:
    context = await chromium.new_context(**options)
    context.set_default_timeout(WAIT_MS)
    context.on("request", lambda request: outside.note(request.url))

    async def guard(route: Any) -> None:
        if outside.is_local(route.request.url):
            await route.continue_()
        else:
            await route.abort("blockedbyclient")

    await context.route("**/*", guard)
    return context


# -- Swagger UI and the pages, as a reader drives them ------------------------------------------

ME = '.opblock-get:has(.opblock-summary-path[data-path="/api/v1/auth/me"])'


async def sign_in_with_authorize(page: Any, email: str, password: str) -> None:
    """Swagger UI's Authorize dialog, OAuth2 password flow: the form posts to /api/v1/auth/token."""
    await page.locator(".scheme-container button.authorize").click()
    oauth2 = page.locator(".modal-ux .auth-container:has-text('OAuth2PasswordBearer')")
    await oauth2.locator("#oauth_username").fill(email)
    await oauth2.locator("#oauth_password").fill(password)
    await oauth2.locator("button.authorize").click()
    await expect(oauth2.get_by_role("heading", name="Authorized")).to_be_visible()


REGISTER = '.opblock-post:has(.opblock-summary-path[data-path="/api/v1/auth/register"])'


def csp_violations(page: Any) -> list[str]:
    """Console errors about the Content-Security-Policy: an inline script or style without its nonce."""
    seen: list[str] = []
    page.on(
        "console",
        lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return seen


async def try_it_out(page: Any, operation_selector: str, body: dict[str, Any] | None = None) -> Any:
    operation = page.locator(operation_selector)
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    if body is not None:
        await operation.locator("textarea.body-param__text").fill(json.dumps(body))
    await operation.locator("button.execute").click()
    return operation.locator(".live-responses-table .response").first
