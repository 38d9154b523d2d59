"""Sign-in with another provider in Chromium: a page on an allowed origin clicks "Continue with …",
the person signs in at the provider (oidc-provider-mock, on loopback), and the page ends signed in
through shop's callback and the exchange of its one-time code with the page's own PKCE verifier."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import expect

from tests.support.browser import OutsideRequests, keep_log, require_browser, screenshot_path
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, mock_provider, set_mock_user
from tests.support.serve import ShopServer, start_server
from tests.support.smtp import SmtpSink

# The provider's own page (the mock's form) asks a stylesheet of a CDN: refused, and not shop's.
PROVIDER_ASSETS = "https://cdn.jsdelivr.net/"


@pytest.fixture(scope="module")
def provider_issuer() -> Iterator[str]:
    with mock_provider() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def oidc_server(
    browser_database_url: str,
    browser_smtp: SmtpSink,
    spa_origin: str,
    provider_issuer: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ShopServer]:
    """`shop serve` with the provider configured as an operator would, the SPA's origin allowed."""
    require_browser()
    server = start_server(
        tmp_path_factory.mktemp("serve-oidc") / "data",
        browser_database_url,
        browser_smtp,
        host="localhost",
        CORS_ORIGINS=spa_origin,
        OIDC_PROVIDERS="company",
        OIDC_COMPANY_ISSUER=provider_issuer,
        OIDC_COMPANY_CLIENT_ID=CLIENT_ID,
        OIDC_COMPANY_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_COMPANY_DISPLAY_NAME="Company login",
    )
    try:
        yield server
    finally:
        server.stop()
        keep_log(server, "shop-serve-oidc")


async def test_a_page_continues_with_a_provider_and_ends_signed_in(
    oidc_server: ShopServer,
    spa_origin: str,
    provider_issuer: str,
    page: Any,
    outside_requests: OutsideRequests,
) -> None:
    email = f"oidc-{uuid.uuid4().hex[:8]}@example.com"
    await set_mock_user(provider_issuer, email, email=email, email_verified=True, given_name="Grace")

    await page.goto(f"{spa_origin}/oidc.html?api={oidc_server.url}")
    await expect(page.locator("#state")).to_have_text("signed out")
    await page.get_by_role("button", name="Continue with Company login").click()

    # At the provider: the person says who they are.
    await page.wait_for_url(f"{provider_issuer}/oauth2/authorize**")
    await page.locator("input[name=sub]").fill(email)
    await page.get_by_role("button", name="Authorize").click()

    await expect(page.locator("#state")).to_have_text("signed in")
    await expect(page.locator("#who")).to_have_text(email)
    await expect(page.locator("#amr")).to_have_text("fed")
    assert "code=" not in page.url  # the page took the code out of the address bar
    await page.screenshot(path=screenshot_path("oidc-signed-in"))
    assert all(url.startswith(PROVIDER_ASSETS) for url in outside_requests.urls), outside_requests.urls
