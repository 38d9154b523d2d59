"""Cookie mode's defences against cross-site requests, in Chromium: a page of another site cannot sign
the visitor into the attacker's account (a plain form POST to /token), and the CSRF value is bound to
its session (a made-up value, or another session's, is refused)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from tests.support.auth import PASSWORD
from tests.support.browser import OutsideRequests, guarded_context, screenshot_path
from tests.support.serve import ShopServer, register_verified

REFRESH_COOKIE = "__Secure-shop_refresh"
CSRF_COOKIE = "__Secure-shop_csrf"


async def shop_cookies(page: Any, server: ShopServer) -> dict[str, Any]:
    return {c["name"]: c for c in await page.context.cookies(server.url + "/api/v1/auth/")}


async def test_a_cross_site_form_post_to_token_sets_no_cookie(
    cookie_server: ShopServer, cross_site_origin: str, page: Any, outside_requests: OutsideRequests
) -> None:
    attacker = f"attacker-{uuid.uuid4().hex[:8]}@example.com"
    await register_verified(cookie_server, attacker)
    target = f"{cookie_server.url}/api/v1/auth/token"
    query = urlencode({"target": target, "username": attacker, "password": PASSWORD})
    async with page.expect_response(target) as answered:
        await page.goto(f"{cross_site_origin}/sign-in.html?{query}")
    response = await answered.value
    # What Chromium tells shop of the page (Sec-Fetch-Site goes to secure origins only).
    assert (await response.request.all_headers())["origin"] == cross_site_origin
    assert response.status == 403
    body = await response.json()
    assert body["code"] == "csrf_failed" and "refresh_token" not in body and "access_token" not in body
    assert "set-cookie" not in await response.all_headers()
    assert await shop_cookies(page, cookie_server) == {}
    await page.screenshot(path=screenshot_path("cross-site-sign-in-refused"))
    assert outside_requests.urls == []


async def sign_in_on_the_spa(page: Any, server: ShopServer, spa_origin: str, email: str) -> dict[str, Any]:
    await page.goto(f"{spa_origin}/index.html?api={server.url}")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("#state").filter(has_text="signed in").wait_for()
    bodies: list[dict[str, Any]] = await page.evaluate("window.bodies")
    return bodies[-1]


REFRESH_WITH = """async ([api, token]) => {
  const headers = token === null ? {} : { "X-CSRF-Token": token };
  const response = await fetch(api + "/api/v1/auth/refresh", { method: "POST", headers, credentials: "include" });
  return { status: response.status, body: await response.json() };
}"""


async def test_the_csrf_value_is_bound_to_its_session(
    cookie_server: ShopServer, spa_origin: str, chromium: Any, page: Any, outside_requests: OutsideRequests
) -> None:
    email = f"csrf-{uuid.uuid4().hex[:8]}@example.com"
    await register_verified(cookie_server, email)
    pair = await sign_in_on_the_spa(page, cookie_server, spa_origin, email)
    cookies = await shop_cookies(page, cookie_server)
    assert set(cookies) == {REFRESH_COOKIE, CSRF_COOKIE}
    assert "refresh_token" not in pair and pair["csrf_token"] == cookies[CSRF_COOKIE]["value"]

    # The same account signed in elsewhere: a CSRF value of another session.
    other_context = await guarded_context(chromium, outside_requests, locale="en-US")
    try:
        other = await sign_in_on_the_spa(await other_context.new_page(), cookie_server, spa_origin, email)
    finally:
        await other_context.close()
    assert other["csrf_token"] != pair["csrf_token"]

    api = cookie_server.url
    for token in (None, "made-up-" + "x" * 40, other["csrf_token"]):
        refused = await page.evaluate(REFRESH_WITH, [api, token])
        assert refused["status"] == 403 and refused["body"]["code"] == "csrf_failed", (token, refused)
    fine = await page.evaluate(REFRESH_WITH, [api, pair["csrf_token"]])
    assert fine["status"] == 200, fine
    assert fine["body"]["csrf_token"] == pair["csrf_token"]  # the same session, the same value
    assert outside_requests.urls == []
