"""Swagger UI and ReDoc in Chromium against a real `shop serve`, with no request beyond loopback."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.async_api import expect

from tests.support.auth import PASSWORD
from tests.support.browser import ME, OutsideRequests, screenshot_path, sign_in_with_authorize
from tests.support.serve import ShopServer, register_verified


async def test_swagger_ui_authorize_and_try_me(
    shop_server: ShopServer, page: Any, outside_requests: OutsideRequests
) -> None:
    email = f"docs-{uuid.uuid4().hex[:8]}@example.com"
    await register_verified(shop_server, email)

    await page.goto(f"{shop_server.url}/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("shop")
    await page.screenshot(path=screenshot_path("docs-swagger-ui"), full_page=False)

    await sign_in_with_authorize(page, email, PASSWORD)
    await page.screenshot(path=screenshot_path("docs-authorized"))
    await page.locator(".modal-ux .btn-done").first.click()

    operation = page.locator(ME)
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator("button.execute").click()
    response = operation.locator(".live-responses-table .response").first
    await expect(response.locator(".response-col_status")).to_contain_text("200")
    await expect(response.locator(".response-col_description")).to_contain_text(email)
    await operation.screenshot(path=screenshot_path("docs-try-me"))
    assert outside_requests.urls == []


async def test_swagger_ui_shows_why_sign_in_failed(shop_server: ShopServer, page: Any) -> None:
    await page.goto(f"{shop_server.url}/docs")
    await page.locator(".scheme-container button.authorize").click()
    oauth2 = page.locator(".modal-ux .auth-container:has-text('OAuth2PasswordBearer')")
    await oauth2.locator("#oauth_username").fill(f"nobody-{uuid.uuid4().hex[:8]}@example.com")
    await oauth2.locator("#oauth_password").fill("not the password at all")
    await oauth2.locator("button.authorize").click()
    # Swagger UI shows the OAuth2 `error` and `error_description` members of /token's refusal.
    await expect(oauth2.locator(".errors")).to_contain_text("invalid_grant")
    await page.screenshot(path=screenshot_path("docs-authorize-refused"))


async def test_redoc_renders_with_no_outside_request(
    shop_server: ShopServer, page: Any, outside_requests: OutsideRequests
) -> None:
    await page.goto(f"{shop_server.url}/redoc")
    await expect(page.locator(".api-info h1")).to_contain_text("shop")
    await expect(page.locator(".menu-content")).to_contain_text("auth")
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=screenshot_path("redoc"))
    assert outside_requests.urls == []
