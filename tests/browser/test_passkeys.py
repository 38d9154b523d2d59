"""Passkeys in Chromium with the DevTools virtual authenticator (CTAP2, resident keys, user
verification, presence simulated): shop's /passkeys page adds a passkey on an accepted origin and
signs in with no email typed; an authenticator that does not verify its user, a page on an origin
that is not accepted, and a passkey removed from the account are all refused by the server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.support.auth import PASSWORD
from tests.support.browser import OutsideRequests, csp_violations, guarded_context, keep_log, screenshot_path
from tests.support.net import free_port
from tests.support.serve import ShopServer, register_verified, start_server
from tests.support.smtp import SmtpSink

API = "/api/v1/auth"


@pytest.fixture(scope="module")
def passkey_server(
    browser_database_url: str, browser_smtp: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ShopServer]:
    """`shop serve` on http://localhost:PORT: the relying party is `localhost` (a WebAuthn RP ID
    is a domain, never an address) and the accepted origin is PUBLIC_URL's, by default."""
    server = start_server(
        tmp_path_factory.mktemp("serve-passkeys") / "data",
        browser_database_url,
        browser_smtp,
        host="localhost",
    )
    try:
        yield server
    finally:
        server.stop()
        keep_log(server, "shop-serve-passkeys")


async def virtual_authenticator(
    page: Any, *, user_verified: bool = True, can_verify: bool = True
) -> tuple[Any, str]:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    added = await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": can_verify,
                "isUserVerified": user_verified,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


# In the page: ask for options, let the authenticator answer (optionally without asking for user
# verification), and hand back the AuthenticationResponseJSON, for the test to send as it likes.
ASSERT = """async ([options, uv]) => {
  if (uv) { options.userVerification = uv; }
  const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
  return credential.toJSON();
}"""


async def test_add_a_passkey_sign_out_and_sign_in_with_no_email(
    passkey_server: ShopServer, chromium: Any, outside_requests: OutsideRequests
) -> None:
    base = passkey_server.url
    email = f"passkey-{uuid.uuid4().hex[:8]}@example.com"
    await register_verified(passkey_server, email)
    context = await guarded_context(chromium, outside_requests, locale="en-US")
    try:
        page = await context.new_page()
        violations = csp_violations(page)
        cdp, authenticator_id = await virtual_authenticator(page)
        await page.goto(f"{base}/passkeys")
        await expect(page.locator("h1")).to_have_text("Passkeys")

        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_label("Name of the passkey").fill("Virtual key")
        await page.get_by_role("button", name="Add a passkey").click()
        await expect(page.get_by_role("status")).to_have_text(
            "Your passkey is added. Sign out, then sign in with it."
        )
        await page.screenshot(path=screenshot_path("passkeys-1-added"))
        credentials = (await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id}))[
            "credentials"
        ]
        assert len(credentials) == 1 and credentials[0]["isResidentCredential"] is True

        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("status")).to_have_text("Signed out.")
        # Discoverable: nothing typed, the authenticator names the account.
        await page.get_by_label("Email").fill("")
        await page.get_by_role("button", name="Sign in with a passkey").click()
        await expect(page.get_by_role("status")).to_have_text("Signed in with your passkey.")
        await expect(page.locator("#who")).to_have_text(email)
        await expect(page.locator("#amr")).to_have_text('["pop","mfa"]')
        await page.screenshot(path=screenshot_path("passkeys-2-signed-in"))

        # An authenticator that does not verify its user: with `required` the browser itself
        # refuses; asked without it, the assertion it makes (UV unset) is refused by the server.
        await cdp.send(
            "WebAuthn.setUserVerified", {"authenticatorId": authenticator_id, "isUserVerified": False}
        )
        async with httpx.AsyncClient(base_url=base) as api:
            options = (await api.post(f"{API}/passkeys/authentication-options", json={})).json()
            assertion = await page.evaluate(ASSERT, [options, "discouraged"])
            refused = await api.post(f"{API}/passkeys/authenticate", json={"credential": assertion})
            assert refused.status_code == 401 and refused.json()["code"] == "invalid_credentials"
        await cdp.send(
            "WebAuthn.setUserVerified", {"authenticatorId": authenticator_id, "isUserVerified": True}
        )
        assert violations == []
        assert outside_requests.urls == []
    finally:
        await context.close()


async def test_a_second_authenticator_without_user_verification_is_refused(
    passkey_server: ShopServer, chromium: Any, outside_requests: OutsideRequests
) -> None:
    """A second virtual authenticator that never verifies its user: its passkey cannot be added."""
    email = f"passkey-uv-{uuid.uuid4().hex[:8]}@example.com"
    await register_verified(passkey_server, email)
    context = await guarded_context(chromium, outside_requests, locale="en-US")
    try:
        page = await context.new_page()
        await virtual_authenticator(page, user_verified=False, can_verify=False)
        await page.goto(f"{passkey_server.url}/passkeys")
        async with httpx.AsyncClient(base_url=passkey_server.url) as api:
            pair = (await api.post(f"{API}/login", json={"email": email, "password": PASSWORD})).json()
            headers = {"Authorization": f"Bearer {pair['access_token']}"}
            options = (
                await api.post(
                    f"{API}/passkeys/registration-options", json={"password": PASSWORD}, headers=headers
                )
            ).json()
            # Asked for user verification, as shop asks, the browser gets none and gives up.
            refused_by_browser = await page.evaluate(
                """async (options) => {
                  try { await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) }); return "created"; }
                  catch (error) { return error.name; }
                }""",
                options,
            )
            assert refused_by_browser == "NotAllowedError"
            # Not asked (a client that rewrote the options): the credential comes without UV, and shop refuses it.
            options = (
                await api.post(
                    f"{API}/passkeys/registration-options", json={"password": PASSWORD}, headers=headers
                )
            ).json()
            credential = await page.evaluate(
                """async (options) => {
                  options.authenticatorSelection.userVerification = "discouraged";
                  const credential = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) });
                  return credential.toJSON();
                }""",
                options,
            )
            refused = await api.post(f"{API}/passkeys", json={"credential": credential}, headers=headers)
            assert refused.status_code == 400 and refused.json()["code"] == "passkey_invalid"
            assert (await api.get(f"{API}/me", headers=headers)).json()["passkeys"] == 0
    finally:
        await context.close()


async def test_a_page_on_another_origin_and_a_removed_passkey_are_refused(
    passkey_server: ShopServer, chromium: Any, outside_requests: OutsideRequests
) -> None:
    base = passkey_server.url
    email = f"passkey-origin-{uuid.uuid4().hex[:8]}@example.com"
    await register_verified(passkey_server, email)
    context = await guarded_context(chromium, outside_requests, locale="en-US")
    try:
        page = await context.new_page()
        await virtual_authenticator(page)
        await page.goto(f"{base}/passkeys")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Add a passkey").click()
        await expect(page.get_by_role("status")).to_have_text(
            "Your passkey is added. Sign out, then sign in with it."
        )

        # Another origin of the same RP ID (localhost, another port): the browser signs, shop refuses.
        elsewhere = f"http://localhost:{free_port()}/"
        await page.route(
            elsewhere,
            lambda route: route.fulfill(
                status=200, content_type="text/html", body="<!DOCTYPE html><title>elsewhere</title>"
            ),
        )
        await page.goto(elsewhere)
        async with httpx.AsyncClient(base_url=base) as api:
            options = (await api.post(f"{API}/passkeys/authentication-options", json={})).json()
            assertion = await page.evaluate(ASSERT, [options, None])
            refused = await api.post(f"{API}/passkeys/authenticate", json={"credential": assertion})
            assert refused.status_code == 401 and refused.json()["code"] == "invalid_credentials"

            # The passkey removed from the account: the authenticator still holds it, shop refuses it.
            pair = (await api.post(f"{API}/login", json={"email": email, "password": PASSWORD})).json()
            headers = {"Authorization": f"Bearer {pair['access_token']}"}
            (passkey,) = (await api.get(f"{API}/passkeys", headers=headers)).json()
            removed = await api.request(
                "DELETE", f"{API}/passkeys/{passkey['id']}", json={"password": PASSWORD}, headers=headers
            )
            assert removed.status_code == 204
        await page.goto(f"{base}/passkeys")
        await page.get_by_role("button", name="Sign in with a passkey").click()
        await expect(page.get_by_role("status")).to_have_text("This passkey was not accepted.")
        await page.screenshot(path=screenshot_path("passkeys-3-removed"))
    finally:
        await context.close()
