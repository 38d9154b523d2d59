"""SPA cookie mode (REFRESH_COOKIE=true): the refresh token as an HttpOnly cookie, CSRF double submit,
and CORS credentials only in this mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shop.bootstrap import create_app
from shop.core.config import Settings
from shop.core.db import Database
from tests.support.app import make_settings
from tests.support.auth import PASSWORD, bearer, register_verified
from tests.support.mfa import Clock, clocked_app, enrol, first_step, verify

SPA = "http://localhost:5173"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, refresh_cookie=True, cors_origins=[SPA])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def app(settings: Settings, db: Database, clock: Clock) -> AsyncIterator[Any]:
    """The conftest's app, on a clock the two-step test moves."""
    async with clocked_app(settings, db, clock) as application:
        yield application


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
    return {"X-CSRF-Token": spa.cookies["shop_csrf"]}


async def test_login_sets_the_cookies_and_leaves_the_refresh_token_out(
    spa: httpx.AsyncClient, app: Any
) -> None:
    _, pair, response = await sign_in(spa, app)
    assert "refresh_token" not in pair
    assert pair["access_token"] and pair["refresh_expires_in"] == 2592000
    cookies = set_cookies(response)
    refresh, csrf_cookie = cookies["shop_refresh"], cookies["shop_csrf"]
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
    assert {"shop_refresh", "shop_csrf"} <= set(set_cookies(response))


async def test_mfa_verify_sets_the_cookies_too(spa: httpx.AsyncClient, app: Any, clock: Clock) -> None:
    email, pair, _ = await sign_in(spa, app)
    enrolled = await enrol(spa, pair, clock)
    spa.cookies.clear()
    mfa_token = await first_step(spa, email)
    response = await verify(spa, mfa_token, code=enrolled.app.next_code())
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    cookies = set_cookies(response)
    assert "httponly" in cookies["shop_refresh"] and "path=/api/v1/auth" in cookies["shop_refresh"]
    assert "shop_csrf" in cookies
    refreshed = await spa.post("/api/v1/auth/refresh", headers=csrf(spa))
    assert refreshed.status_code == 200, refreshed.text


async def test_refresh_by_cookie_needs_the_csrf_header(spa: httpx.AsyncClient, app: Any) -> None:
    await sign_in(spa, app)
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
        refused = await spa.post("/api/v1/auth/refresh", headers=headers)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "forbidden"
    # Even with a (stolen) refresh token in the body: the cookie is there, so the header is needed.
    with_body = await spa.post("/api/v1/auth/refresh", json={"refresh_token": spa.cookies["shop_refresh"]})
    assert with_body.status_code == 403

    old_refresh = spa.cookies["shop_refresh"]
    refreshed = await spa.post("/api/v1/auth/refresh", headers=csrf(spa))
    assert refreshed.status_code == 200, refreshed.text
    assert "refresh_token" not in refreshed.json()
    assert spa.cookies["shop_refresh"] != old_refresh  # rotated, and the new one is in the cookie
    me = await spa.get("/api/v1/auth/me", headers=bearer(refreshed.json()))
    assert me.status_code == 200

    # The spent one, presented again by cookie, is a reuse like any other.
    replay = await spa.post(
        "/api/v1/auth/refresh",
        headers={"X-CSRF-Token": "x", "Cookie": f"shop_refresh={old_refresh}; shop_csrf=x"},
    )
    assert replay.status_code == 401 and replay.json()["code"] == "token_reused"


async def test_without_the_cookie_refresh_takes_the_body(spa: httpx.AsyncClient, app: Any) -> None:
    await sign_in(spa, app)
    refresh_token = spa.cookies["shop_refresh"]
    spa.cookies.clear()
    refreshed = await spa.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    assert "shop_refresh" in set_cookies(refreshed)
    spa.cookies.clear()
    missing = await spa.post("/api/v1/auth/refresh")
    assert missing.status_code == 422 and missing.json()["code"] == "validation_error"


async def test_logout_needs_the_csrf_header_and_clears_both_cookies(spa: httpx.AsyncClient, app: Any) -> None:
    _, pair, _ = await sign_in(spa, app)
    refused = await spa.post("/api/v1/auth/logout", headers=bearer(pair))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert (await spa.get("/api/v1/auth/me", headers=bearer(pair))).status_code == 200

    refresh_token = spa.cookies["shop_refresh"]
    done = await spa.post("/api/v1/auth/logout", headers={**bearer(pair), **csrf(spa)})
    assert done.status_code == 204
    cleared = set_cookies(done)
    assert cleared["shop_refresh"][0] in ("", '""') and "max-age=0" in cleared["shop_refresh"]
    assert "path=/api/v1/auth" in cleared["shop_refresh"]
    assert cleared["shop_csrf"][0] in ("", '""') and "max-age=0" in cleared["shop_csrf"]
    assert "shop_refresh" not in spa.cookies and "shop_csrf" not in spa.cookies
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


async def test_default_mode_sets_no_cookie_and_allows_no_credentials(
    database_url: str, tmp_path: Path, db: Database
) -> None:
    settings = make_settings(database_url, tmp_path, cors_origins=[SPA])
    application = create_app(settings, database=db, run_background_loops=False)
    async with application.router.lifespan_context(application):
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
            client.cookies.set("shop_refresh", login.json()["refresh_token"])
            refused = await client.post("/api/v1/auth/refresh")
            assert refused.status_code == 422
