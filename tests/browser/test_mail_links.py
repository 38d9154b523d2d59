"""The newcomer's walk-through of the README, and the reset flow, in Chromium against `shop serve`:
every link is read from the mail the SMTP server received, as its reader would click it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.async_api import expect

from tests.support.auth import PASSWORD
from tests.support.browser import (
    ME,
    REGISTER,
    OutsideRequests,
    csp_violations,
    guarded_context,
    screenshot_path,
    sign_in_with_authorize,
    try_it_out,
)
from tests.support.serve import ShopServer, mailed_link, register_verified


async def test_newcomer_walk_through(
    shop_server: ShopServer, page: Any, outside_requests: OutsideRequests
) -> None:
    """README "First steps": open /docs, register, click the mail link, Authorize, try /me."""
    violations = csp_violations(page)
    email = f"newcomer-{uuid.uuid4().hex[:8]}@example.com"

    await page.goto(f"{shop_server.url}/docs")
    registered = await try_it_out(
        page, REGISTER, {"email": email, "password": PASSWORD, "confirm_password": PASSWORD}
    )
    await expect(registered.locator(".response-col_status")).to_contain_text("201")
    await page.locator(REGISTER).screenshot(path=screenshot_path("walkthrough-1-register"))

    link = await mailed_link(shop_server, email, "verify-email")
    assert link.startswith(f"{shop_server.url}/verify-email?token=")
    await page.goto(link)
    await expect(page.locator("h1")).to_have_text("Confirm your email address")
    await page.screenshot(path=screenshot_path("walkthrough-2-verify-email"))
    await page.get_by_role("button", name="Confirm my email address").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Your email address is confirmed. You can sign in now."
    )
    await page.screenshot(path=screenshot_path("walkthrough-3-verified"))

    await page.goto(f"{shop_server.url}/docs")
    await sign_in_with_authorize(page, email, PASSWORD)
    await page.locator(".modal-ux .btn-done").first.click()
    me = await try_it_out(page, ME)
    await expect(me.locator(".response-col_status")).to_contain_text("200")
    await expect(me.locator(".response-col_description")).to_contain_text(email)
    await page.locator(ME).screenshot(path=screenshot_path("walkthrough-4-me"))

    # The link was spent by the button, not by opening it: opened again, it says so.
    await page.goto(link)
    await expect(page.get_by_role("status")).to_contain_text("already been used")
    assert violations == []
    assert outside_requests.urls == []


async def test_password_reset_from_the_mail(
    shop_server: ShopServer, chromium: Any, outside_requests: OutsideRequests
) -> None:
    email = f"reset-{uuid.uuid4().hex[:8]}@example.com"
    await register_verified(shop_server, email)
    async with httpx.AsyncClient(base_url=shop_server.url) as api:
        asked = await api.post("/api/v1/auth/password-reset-request", json={"email": email})
        assert asked.status_code == 202
    link = await mailed_link(shop_server, email, "reset-password", count=2)

    context = await guarded_context(chromium, outside_requests, locale="es-ES")
    try:
        page = await context.new_page()
        violations = csp_violations(page)
        await page.goto(link)
        await expect(page.locator("h1")).to_have_text("Elige una contraseña nueva")
        new_password = "a brand new passphrase"
        await page.get_by_label("Contraseña nueva", exact=True).fill(new_password)
        await page.get_by_label("Repite la contraseña nueva").fill(new_password + "!")
        await page.get_by_role("button", name="Guardar la contraseña nueva").click()
        await expect(page.get_by_role("status")).to_have_text("Las dos contraseñas no coinciden.")
        await page.get_by_label("Repite la contraseña nueva").fill(new_password)
        await page.screenshot(path=screenshot_path("reset-password-es"))
        await page.get_by_role("button", name="Guardar la contraseña nueva").click()
        await expect(page.get_by_role("status")).to_contain_text("Tu contraseña ha cambiado")
        await page.screenshot(path=screenshot_path("reset-password-es-done"))
        assert violations == []
    finally:
        await context.close()

    async with httpx.AsyncClient(base_url=shop_server.url) as api:
        old = await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert old.status_code == 401
        new = await api.post("/api/v1/auth/login", json={"email": email, "password": new_password})
        assert new.status_code == 200, new.text
    assert outside_requests.urls == []


async def test_a_refused_reset_shows_the_servers_reason(shop_server: ShopServer, page: Any) -> None:
    email = f"reset-weak-{uuid.uuid4().hex[:8]}@example.com"
    await register_verified(shop_server, email)
    async with httpx.AsyncClient(base_url=shop_server.url) as api:
        assert (
            await api.post("/api/v1/auth/password-reset-request", json={"email": email})
        ).status_code == 202
    await page.goto(await mailed_link(shop_server, email, "reset-password", count=2))
    await page.get_by_label("New password", exact=True).fill(email)
    await page.get_by_label("New password, again").fill(email)
    await page.get_by_role("button", name="Set the new password").click()
    await expect(page.get_by_role("status")).to_have_class("error")
    await expect(page.get_by_role("status")).not_to_be_empty()
    # Refused, so the link still works.
    await page.reload()
    await expect(page.get_by_role("button", name="Set the new password")).to_be_visible()
