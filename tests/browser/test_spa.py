"""SPA cookie mode in Chromium: a page on another origin signs in, survives a reload through the
HttpOnly refresh cookie (its access token lived in memory only), and signs out."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.async_api import expect

from tests.support.auth import PASSWORD
from tests.support.browser import OutsideRequests, screenshot_path
from tests.support.serve import ShopServer, register_verified


async def test_spa_stays_signed_in_through_the_cookie(
    cookie_server: ShopServer, spa_origin: str, page: Any, outside_requests: OutsideRequests
) -> None:
    email = f"spa-{uuid.uuid4().hex[:8]}@example.com"
    await register_verified(cookie_server, email)
    assert cookie_server.url.split(":")[:2] == spa_origin.split(":")[:2]  # same site
    assert cookie_server.url != spa_origin  # another origin: CORS with credentials

    await page.goto(f"{spa_origin}/index.html?api={cookie_server.url}")
    state = page.locator("#state")
    await expect(state).to_have_text("signed out")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(state).to_have_text("signed in")
    await expect(page.locator("#who")).to_have_text(email)
    await page.screenshot(path=screenshot_path("spa-signed-in"))

    bodies = await page.evaluate("window.bodies")
    assert "refresh_token" not in bodies[0] and bodies[0]["access_token"]
    cookies = {c["name"]: c for c in await page.context.cookies(cookie_server.url + "/api/v1/auth/")}
    refresh = cookies["__Secure-shop_refresh"]
    assert refresh["httpOnly"] and refresh["secure"] and refresh["sameSite"] == "Strict"
    assert refresh["path"] == "/api/v1/auth"
    assert not cookies["__Secure-shop_csrf"]["httpOnly"] and cookies["__Secure-shop_csrf"]["path"] == "/"
    # The page's scripts see the CSRF cookie, never the refresh token.
    visible = await page.evaluate("document.cookie")
    assert "__Secure-shop_csrf=" in visible and "shop_refresh" not in visible

    await page.reload()
    await expect(state).to_have_text("signed in")
    await expect(page.locator("#who")).to_have_text(email)
    await page.screenshot(path=screenshot_path("spa-after-reload"))
    assert len(await page.evaluate("window.bodies")) == 1  # this page load's own refresh answer

    await page.get_by_role("button", name="Sign out").click()
    await expect(state).to_have_text("signed out")
    remaining = {c["name"] for c in await page.context.cookies(cookie_server.url + "/api/v1/auth/")}
    assert not remaining & {"__Secure-shop_refresh", "__Secure-shop_csrf"}
    await page.reload()
    await expect(state).to_have_text("signed out")
    await page.screenshot(path=screenshot_path("spa-signed-out"))
    assert outside_requests.urls == []
