"""SPA cookie mode (REFRESH_COOKIE=true): the refresh token as an HttpOnly cookie, CSRF double submit,
and CORS credentials only in this mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shop.core.config import Settings
from tests.support.app import AppWith, make_settings
from tests.support.auth import PASSWORD, bearer, register_verified
from tests.support.mfa import Clock, enrol, first_step, verify

SPA = "http://localhost:5173"
REFRESH, CSRF = "__Secure-shop_refresh", "__Secure-shop_csrf"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, refresh_cookie=True, cors_origins=[SPA])


@pytest.fixture
async def spa(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client over https (Secure cookies are sent only there), keeping its cookies."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
        yield client


def set_cookies(response: httpx.Response) -> dict[str, list[str]]:
    """Each Set-Cookie by name: its value then its attributes, lower-cased."""
    found: dict[str, list[str]] = {}
    for line in response.headers.get_list("set-cookie"):
        name_value, *attributes = (part.strip() for part in line.split(";"))
        name, _, value = name_value.partition("=")
        found[name] = [value, *(attribute.lower() for attribute in attributes)]
    return found


async def sign_in(spa: httpx.AsyncClient, app: Any) -> tuple[str, dict[str, Any], httpx.Response]:
    email = await register_verified(spa, app)
    response = await spa.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return email, response.json(), response


def csrf(spa: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": spa.cookies[CSRF]}


async def test_login_sets_the_cookies_and_leaves_the_refresh_token_out(
    spa: httpx.AsyncClient, app: Any
) -> None:
    _, pair, response = await sign_in(spa, app)
    assert "refresh_token" not in pair
    assert pair["access_token"] and pair["refresh_expires_in"] == 2592000
    cookies = set_cookies(response)
    refresh, csrf_cookie = cookies[REFRESH], cookies[CSRF]
    assert refresh[0] and csrf_cookie[0] and refresh[0] != csrf_cookie[0]
    assert set(refresh[1:]) == {
        "httponly",
        "secure",
        "samesite=strict",
        "path=/api/v1/auth",
        "max-age=2592000",
    }
    assert set(csrf_cookie[1:]) == {"secure", "samesite=strict", "path=/", "max-age=2592000"}


async def test_token_sets_the_cookies_too(spa: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(spa, app)
    response = await spa.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200
    assert "refresh_token" not in response.json()
    assert {REFRESH, CSRF} <= set(set_cookies(response))


async def test_mfa_verify_sets_the_cookies_too(spa: httpx.AsyncClient, app: Any, clock: Clock) -> None:
    email, pair, _ = await sign_in(spa, app)
    enrolled = await enrol(spa, pair, clock)
    spa.cookies.clear()
    mfa_token = await first_step(spa, email)
    response = await verify(spa, mfa_token, code=enrolled.app.next_code())
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    cookies = set_cookies(response)
    assert "httponly" in cookies[REFRESH] and "path=/api/v1/auth" in cookies[REFRESH]
    assert CSRF in cookies
    refreshed = await spa.post("/api/v1/auth/refresh", headers=csrf(spa))
    assert refreshed.status_code == 200, refreshed.text


async def test_refresh_by_cookie_needs_the_csrf_header(spa: httpx.AsyncClient, app: Any) -> None:
    await sign_in(spa, app)
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
        refused = await spa.post("/api/v1/auth/refresh", headers=headers)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "csrf_failed"
    # Even with a (stolen) refresh token in the body: the cookie is there, so the header is needed.
    with_body = await spa.post("/api/v1/auth/refresh", json={"refresh_token": spa.cookies[REFRESH]})
    assert with_body.status_code == 403

    old_refresh = spa.cookies[REFRESH]
    refreshed = await spa.post("/api/v1/auth/refresh", headers=csrf(spa))
    assert refreshed.status_code == 200, refreshed.text
    assert "refresh_token" not in refreshed.json()
    assert spa.cookies[REFRESH] != old_refresh  # rotated, and the new one is in the cookie
    me = await spa.get("/api/v1/auth/me", headers=bearer(refreshed.json()))
    assert me.status_code == 200

    # The spent one, presented again by cookie, is a reuse like any other.
    replay = await spa.post(
        "/api/v1/auth/refresh", headers={**csrf(spa), "Cookie": f"{REFRESH}={old_refresh}"}
    )
    assert replay.status_code == 401 and replay.json()["code"] == "token_reused"


async def test_without_the_cookie_refresh_takes_the_body(spa: httpx.AsyncClient, app: Any) -> None:
    await sign_in(spa, app)
    refresh_token = spa.cookies[REFRESH]
    spa.cookies.clear()
    refreshed = await spa.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    assert REFRESH in set_cookies(refreshed)
    spa.cookies.clear()
    missing = await spa.post("/api/v1/auth/refresh")
    assert missing.status_code == 401 and missing.json()["code"] == "not_authenticated"


async def test_logout_needs_the_csrf_header_and_clears_both_cookies(spa: httpx.AsyncClient, app: Any) -> None:
    _, pair, _ = await sign_in(spa, app)
    refused = await spa.post("/api/v1/auth/logout", headers=bearer(pair))
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    assert (await spa.get("/api/v1/auth/me", headers=bearer(pair))).status_code == 200

    refresh_token = spa.cookies[REFRESH]
    done = await spa.post("/api/v1/auth/logout", headers={**bearer(pair), **csrf(spa)})
    assert done.status_code == 204
    cleared = set_cookies(done)
    assert cleared[REFRESH][0] in ("", '""') and "max-age=0" in cleared[REFRESH]
    assert "path=/api/v1/auth" in cleared[REFRESH]
    assert cleared[CSRF][0] in ("", '""') and "max-age=0" in cleared[CSRF]
    assert REFRESH not in spa.cookies and CSRF not in spa.cookies
    gone = await spa.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert gone.status_code == 401 and gone.json()["code"] == "token_revoked"


async def test_cors_allows_credentials_and_the_csrf_header_for_the_spa(spa: httpx.AsyncClient) -> None:
    preflight = await spa.options(
        "/api/v1/auth/refresh",
        headers={
            "Origin": SPA,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-csrf-token",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == SPA
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "x-csrf-token" in preflight.headers["access-control-allow-headers"].lower()
    other = await spa.options(
        "/api/v1/auth/refresh",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers


async def test_default_mode_sets_no_cookie_and_allows_no_credentials(app_with: AppWith) -> None:
    async with app_with(cors_origins=[SPA]) as application:
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
            preflight = await client.options(
                "/api/v1/auth/login", headers={"Origin": SPA, "Access-Control-Request-Method": "POST"}
            )
            assert preflight.headers["access-control-allow-origin"] == SPA
            assert "access-control-allow-credentials" not in preflight.headers
            email = await register_verified(client, application)
            login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            assert login.status_code == 200
            assert login.json()["refresh_token"]
            assert "set-cookie" not in login.headers
            # A cookie is no credential here: /refresh still wants the body.
            client.cookies.set(REFRESH, login.json()["refresh_token"])
            refused = await client.post("/api/v1/auth/refresh")
            assert refused.status_code == 401 and refused.json()["code"] == "not_authenticated"


async def test_the_csrf_value_is_bound_to_its_session_and_given_in_the_body(
    spa: httpx.AsyncClient, app: Any
) -> None:
    email, pair, _ = await sign_in(spa, app)
    first = spa.cookies[CSRF]
    assert pair["csrf_token"] == first
    # The same browser signs in again: a new session, its own value, its cookies replace the first's.
    again = await spa.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    own = again.json()["csrf_token"]
    assert own != first and spa.cookies[CSRF] == own
    made_up = own[:-1] + ("A" if own[-1] != "A" else "B")
    for forged in (first, made_up):  # another session's value (well made), and a made-up one
        refused = await spa.post("/api/v1/auth/refresh", headers={"X-CSRF-Token": forged})
        assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed", forged
    refreshed = await spa.post("/api/v1/auth/refresh", headers={"X-CSRF-Token": own})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["csrf_token"] == own  # the session's value lives as long as it does
    assert "refresh_token" not in refreshed.json()


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, True),
        ({"Origin": "https://evil.example"}, True),
        ({"Origin": "null"}, True),
        ({"Origin": "http://localhost:5174"}, True),  # the same site, but not an allowed origin
        ({"Origin": SPA, "Sec-Fetch-Site": "same-site"}, False),  # CORS_ORIGINS
        ({"Origin": "http://shop.test"}, False),  # PUBLIC_URL's
        ({"Sec-Fetch-Site": "same-origin"}, False),
        ({}, False),  # no browser: nothing to defend
    ],
)
async def test_a_sign_in_from_another_site_sets_no_cookie(
    spa: httpx.AsyncClient, app: Any, headers: dict[str, str], refused: bool
) -> None:
    email = await register_verified(spa, app)
    calls = [
        ("/api/v1/auth/login", {"json": {"email": email, "password": PASSWORD}}),
        ("/api/v1/auth/token", {"data": {"username": email, "password": PASSWORD}}),
        ("/api/v1/auth/mfa/verify", {"json": {"mfa_token": "x" * 32, "code": "123456"}}),
        ("/api/v1/auth/refresh", {"json": {"refresh_token": "x" * 32}}),
    ]
    for path, body in calls:
        spa.cookies.clear()  # each call as a first visit: no refresh cookie asks for a CSRF header
        response = await spa.post(path, headers=headers, **body)  # type: ignore[arg-type]
        if refused:
            assert response.status_code == 403, (path, response.text)
            assert response.json()["code"] == "csrf_failed"
            assert "set-cookie" not in response.headers
            if path.endswith("/token"):
                assert response.json()["error"] == "invalid_grant"
        else:
            assert response.json().get("code") != "csrf_failed", (path, response.text)


async def test_cookie_domain_names_the_cookies_domain(app_with: AppWith) -> None:
    async with app_with(refresh_cookie=True, cors_origins=[SPA], cookie_domain=".Example.COM") as application:
        assert application.state.settings.cookie_domain == "example.com"
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://api.example.com") as client:
            email = await register_verified(client, application)
            login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            cookies = set_cookies(login)
            assert "domain=example.com" in cookies[REFRESH] and "domain=example.com" in cookies[CSRF]
            out = await client.post(
                "/api/v1/auth/logout",
                headers={**bearer(login.json()), "X-CSRF-Token": login.json()["csrf_token"]},
            )
            assert out.status_code == 204
            assert all("domain=example.com" in line.lower() for line in out.headers.get_list("set-cookie"))


async def test_default_mode_refuses_no_origin(app_with: AppWith) -> None:
    """Without cookie mode there is no cookie to plant: a bearer-token API serves any origin."""
    async with app_with() as application:
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
            email = await register_verified(client, application)
            response = await client.post(
                "/api/v1/auth/login",
                json={"email": email, "password": PASSWORD},
                headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
            )
            assert response.status_code == 200 and "csrf_token" not in response.json()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/v1/auth/passkeys/authenticate",
            {"credential": {"id": "x", "rawId": "x", "type": "public-key"}},
        ),
        ("/api/v1/auth/oidc/exchange", {"code": "x" * 43, "code_verifier": "v" * 43}),
    ],
)
async def test_passkey_and_provider_sign_ins_refuse_another_site(
    spa: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    """The passkey sign-in and the provider exchange set the cookies as /login does, so they refuse
    a cross-site origin as it does (before spending the address's budget)."""
    response = await spa.post(path, headers={"Origin": "https://evil.example"}, json=body)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "csrf_failed"
    assert "set-cookie" not in response.headers
    allowed = await spa.post(path, headers={"Origin": SPA}, json=body)
    assert allowed.json().get("code") != "csrf_failed", allowed.text
