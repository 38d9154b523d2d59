"""Security headers: nosniff and no-referrer on every response; no-store on tokens and personal data."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.support.auth import PASSWORD, register_verified
from tests.support.factories import signed_in_user


def assert_always(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def assert_no_store(response: httpx.Response) -> None:
    assert_always(response)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health/live", 200),
        ("GET", "/metrics", 200),
        ("GET", "/docs", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/api/v1/currencies", 200),
        ("GET", "/api/v1/nowhere", 404),
        ("DELETE", "/health/live", 405),
        ("GET", "/api/v1/convert?from=USD&to=nope&amount=1", 422),
    ],
)
async def test_every_response_says_nosniff_and_no_referrer(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert_always(response)


async def test_an_unexpected_error_has_the_headers_too(app: FastAPI, client: httpx.AsyncClient) -> None:
    @app.get("/api/v1/auth/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    response = await client.get("/api/v1/auth/boom")
    assert response.status_code == 500
    assert_no_store(response)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/api/v1/auth/login", 422),
        ("POST", "/api/v1/auth/token", 422),
        ("GET", "/api/v1/auth/me", 401),
        ("GET", "/api/v1/auth/sessions", 401),
        ("GET", "/api/v1/admin/users", 401),
        ("PATCH", "/api/v1/admin/currencies/EUR", 401),
        ("GET", "/api/v1/profile", 401),
        ("GET", "/api/v1/addresses", 401),
        ("GET", "/api/v1/auth/nowhere", 404),
    ],
)
async def test_errors_under_private_paths_are_no_store(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert_no_store(response)


async def test_tokens_and_personal_data_are_no_store(app: FastAPI, client: httpx.AsyncClient) -> None:
    email = await register_verified(client, app)
    token = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    assert_no_store(token)
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    assert_no_store(login)
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for path in ("/api/v1/auth/me", "/api/v1/profile", "/api/v1/addresses"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        assert_no_store(response)
    admin = await signed_in_user(app, role="admin")
    listing = await client.get("/api/v1/admin/users", headers=admin.headers)
    assert listing.status_code == 200
    assert_no_store(listing)


async def test_public_reference_data_keeps_its_caching(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/v1/languages")
    assert first.status_code == 200
    assert_always(first)
    assert "no-store" not in first.headers["cache-control"]
    again = await client.get("/api/v1/languages", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert_always(again)
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert again.headers["etag"] == first.headers["etag"]


async def test_no_store_stops_at_the_path_segment(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/authority")
    assert response.status_code == 404
    assert_always(response)
    assert "cache-control" not in response.headers


API_CSP = "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health/live", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/api/v1/currencies", 200),
        ("GET", "/api/v1/auth/me", 401),
        ("GET", "/api/v1/nowhere", 404),
        ("DELETE", "/health/live", 405),
        ("POST", "/api/v1/auth/login", 422),
    ],
)
async def test_every_json_response_carries_a_policy_that_allows_nothing(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"].split(";")[0] in {"application/json", "application/problem+json"}
    assert response.headers["content-security-policy"] == API_CSP


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_the_docs_allow_their_own_assets_and_no_framing(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    policy = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, _, sources = part.strip().partition(" ")
        policy[name] = sources
    assert policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'none'"
    sources = policy["script-src"].split()
    assert sources[0] == "'self'"
    # Nothing inline runs but the page's own scripts, named by their hashes; no other host.
    assert all(source.startswith("'sha256-") for source in sources[1:])
    assert "unsafe-inline" not in policy["script-src"]
    assert "http" not in response.headers["content-security-policy"]


@pytest.mark.parametrize("page", ["verify-email", "reset-password"])
async def test_the_pages_cannot_be_framed(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(f"/{page}?token=whatever")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
