"""The email change as its owner makes it: asked through the API, confirmed in Chromium from the link
the new address received, against `shop serve` and a real SMTP server."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.async_api import expect

from tests.support.auth import PASSWORD
from tests.support.browser import OutsideRequests, csp_violations, screenshot_path
from tests.support.serve import ShopServer, mailed_link, register_verified


async def test_the_link_to_the_new_address_confirms_the_change_in_the_browser(
    shop_server: ShopServer, page: Any, outside_requests: OutsideRequests
) -> None:
    tag = uuid.uuid4().hex[:8]
    old, new = f"moving-{tag}@example.com", f"moved-{tag}@example.net"
    await register_verified(shop_server, old)
    async with httpx.AsyncClient(base_url=shop_server.url) as api:
        signed_in = await api.post("/api/v1/auth/login", json={"email": old, "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        asked = await api.post(
            "/api/v1/auth/email-change", json={"new_email": new, "password": PASSWORD}, headers=headers
        )
        assert asked.status_code == 202, asked.text

    violations = csp_violations(page)
    link = await mailed_link(shop_server, new, "confirm-email-change")
    assert link.startswith(f"{shop_server.url}/confirm-email-change?token=")
    await page.goto(link)
    await expect(page.locator("h1")).to_have_text("Confirm your new email address")
    await page.get_by_role("button", name="Use this email address").click()
    await expect(page.get_by_role("status")).to_contain_text("Your account's email address is changed")
    await page.screenshot(path=screenshot_path("email-change-confirmed"))
    await page.reload()
    await expect(page.get_by_role("status")).to_contain_text("already been used")

    async with httpx.AsyncClient(base_url=shop_server.url) as api:
        me = await api.get("/api/v1/auth/me", headers=headers)  # the session lived on
        assert me.json()["email"] == new and me.json()["email_verified"] is True
    assert violations == []
    assert outside_requests.urls == []
