"""/token's refusals: problems that also carry OAuth2's `error` and `error_description` (RFC 6749
§5.2), so that Swagger UI's Authorize dialog tells why sign-in failed."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.app import AppWith, http_client
from tests.support.auth import PASSWORD, new_email, register, register_verified
from tests.support.problems import assert_problem

TOKEN = "/api/v1/auth/token"


async def token(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        TOKEN, data={"grant_type": "password", "username": username, "password": password}
    )


def assert_oauth2(body: dict[str, Any], error: str) -> None:
    assert body["error"] == error
    assert body["error_description"] == body["detail"] or error == "invalid_request"
    assert body["error_description"].isascii() and '"' not in body["error_description"]


async def test_wrong_credentials_are_invalid_grant(client: httpx.AsyncClient) -> None:
    response = await token(client, new_email(), "not the password at all")
    body = assert_problem(response, 401, "invalid_credentials")
    assert_oauth2(body, "invalid_grant")
    assert response.headers["www-authenticate"] == "Bearer"
    assert {"type", "title", "status", "detail", "code"} <= set(body)


async def test_unverified_and_locked_accounts_are_invalid_grant(client: httpx.AsyncClient) -> None:
    email = await register(client)
    assert_oauth2(
        assert_problem(await token(client, email, PASSWORD), 403, "email_not_verified"), "invalid_grant"
    )
    for _ in range(4):
        assert_problem(await token(client, email, "wrong password!"), 401, "invalid_credentials")
    locked = await token(client, email, "wrong password!")
    assert_oauth2(assert_problem(locked, 423, "account_locked"), "invalid_grant")
    assert int(locked.headers["retry-after"]) > 0


async def test_a_malformed_form_is_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post(TOKEN, data={"username": "someone@example.com"})
    body = assert_problem(response, 422, "validation_error")
    assert_oauth2(body, "invalid_request")
    assert "password" in body["error_description"]
    assert body["errors"][0]["loc"] == ["body", "password"]


async def test_the_rate_limit_is_slow_down(app_with: AppWith) -> None:
    async with (
        app_with(rate_limit_enabled=True, rate_limit_login="2/5minutes") as app,
        http_client(app) as client,
    ):
        for _ in range(2):
            await token(client, new_email(), "not the password at all")
        limited = await token(client, new_email(), "not the password at all")
        assert_oauth2(assert_problem(limited, 429, "rate_limited"), "slow_down")
        assert int(limited.headers["retry-after"]) > 0


async def test_success_and_login_are_unchanged(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    ok = await token(client, email, PASSWORD)
    assert ok.status_code == 200 and ok.json()["token_type"] == "bearer" and ok.json()["refresh_token"]
    # /login is no OAuth2 endpoint: its problems carry no OAuth2 members.
    refused = await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong password!"})
    assert "error" not in assert_problem(refused, 401, "invalid_credentials")
