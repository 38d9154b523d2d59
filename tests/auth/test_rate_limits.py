"""Rate limits per client address and per email; trusted proxies; the Redis backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shop.core.db import Database
from tests.support.app import AppWith, http_client
from tests.support.auth import PASSWORD, new_email
from tests.support.ci import unavailable
from tests.support.problems import assert_problem


@pytest.fixture
def limited(app_with: AppWith) -> Any:
    async def build(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with app_with(rate_limit_enabled=True, **overrides) as app, http_client(app) as client:
            yield client

    return build


def register_body() -> dict[str, str]:
    return {"email": new_email(), "password": PASSWORD, "confirm_password": PASSWORD}


async def test_register_limit(limited: Any) -> None:
    async for client in limited():
        for _ in range(3):
            assert (await client.post("/api/v1/auth/register", json=register_body())).status_code == 201
        blocked = await client.post("/api/v1/auth/register", json=register_body())
        assert_problem(blocked, 429, "rate_limited")
        assert 1 <= int(blocked.headers["retry-after"]) <= 300


async def test_login_and_token_share_one_budget(limited: Any) -> None:
    async for client in limited():
        for _ in range(3):
            await client.post("/api/v1/auth/login", json={"email": new_email(), "password": "whatever pass"})
        for _ in range(2):
            response = await client.post(
                "/api/v1/auth/token", data={"username": new_email(), "password": "whatever"}
            )
            assert response.status_code == 401
        assert (
            await client.post("/api/v1/auth/login", json={"email": new_email(), "password": "x" * 9})
        ).status_code == 429
        assert (
            await client.post("/api/v1/auth/token", data={"username": "a@b.co", "password": "x"})
        ).status_code == 429


async def test_forwarded_for_is_ignored_from_untrusted_peers(limited: Any) -> None:
    async for client in limited():
        for index in range(3):
            headers = {"X-Forwarded-For": f"198.51.100.{index}"}
            await client.post("/api/v1/auth/register", json=register_body(), headers=headers)
        blocked = await client.post(
            "/api/v1/auth/register", json=register_body(), headers={"X-Forwarded-For": "198.51.100.99"}
        )
        assert blocked.status_code == 429


async def test_trusted_proxy_forwards_the_client_address(limited: Any) -> None:
    async for client in limited(trusted_proxies=["203.0.113.0/24"]):
        for index in range(5):
            headers = {"X-Forwarded-For": f"198.51.100.{index}"}
            assert (
                await client.post("/api/v1/auth/register", json=register_body(), headers=headers)
            ).status_code == 201


@pytest.mark.parametrize("path", ["/api/v1/auth/password-reset-request", "/api/v1/auth/resend-verification"])
async def test_email_endpoints_limit_per_address_and_per_email(limited: Any, path: str) -> None:
    async for client in limited(trusted_proxies=["203.0.113.7"]):
        email = new_email()
        # Per email: three from different addresses pass, the fourth is refused.
        for index in range(3):
            response = await client.post(
                path, json={"email": email}, headers={"X-Forwarded-For": f"198.51.100.{index}"}
            )
            assert response.status_code == 202
        blocked = await client.post(path, json={"email": email}, headers={"X-Forwarded-For": "198.51.100.50"})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) <= 3600
        # Per address: three different emails pass, the fourth is refused.
        for _ in range(3):
            response = await client.post(
                path, json={"email": new_email()}, headers={"X-Forwarded-For": "198.51.100.77"}
            )
            assert response.status_code == 202
        blocked = await client.post(
            path, json={"email": new_email()}, headers={"X-Forwarded-For": "198.51.100.77"}
        )
        assert blocked.status_code == 429


async def test_limits_can_be_turned_off(client: httpx.AsyncClient) -> None:
    # The default test settings have RATE_LIMIT_ENABLED=false.
    for _ in range(6):
        assert (await client.post("/api/v1/auth/register", json=register_body())).status_code == 201


def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        unavailable("TEST_REDIS_URL: a Redis server is needed for the shared-limit test")
    return url


async def test_redis_limits_hold_across_instances(app_with: AppWith) -> None:
    url = redis_url()
    async with (
        app_with(rate_limit_enabled=True, redis_url=url) as first,
        app_with(rate_limit_enabled=True, redis_url=url) as second,
        http_client(first) as one,
        http_client(second) as two,
    ):
        first.state.rate_limiter.reset()
        try:
            assert (await one.post("/api/v1/auth/register", json=register_body())).status_code == 201
            assert (await two.post("/api/v1/auth/register", json=register_body())).status_code == 201
            assert (await one.post("/api/v1/auth/register", json=register_body())).status_code == 201
            assert (await two.post("/api/v1/auth/register", json=register_body())).status_code == 429
            ready = await one.get("/health/ready")
            assert ready.json()["redis"] == "ok"
        finally:
            first.state.rate_limiter.reset()


async def test_reauthentication_is_limited_per_account(limited: Any) -> None:
    from tests.support.auth import bearer, login, outbox_tokens, register

    async for client in limited():
        app = client._transport.app  # type: ignore[attr-defined]
        email = await register(client)
        token = (await outbox_tokens(app, email))[0]
        await client.post("/api/v1/auth/verify-email", json={"token": token})
        pair = await login(client, email)
        wrong = {
            "current_password": "not the password",
            "new_password": "x y z w v u",
            "confirm_password": "x y z w v u",
        }
        # Four wrong passwords (the fifth would lock the account) and one right one use the budget.
        for _ in range(4):
            response = await client.post("/api/v1/auth/change-password", headers=bearer(pair), json=wrong)
            assert response.status_code == 400
        setup = await client.post(
            "/api/v1/auth/mfa/totp/setup", headers=bearer(pair), json={"password": PASSWORD}
        )
        assert setup.status_code == 200
        blocked = await client.request(
            "DELETE", "/api/v1/auth/me", headers=bearer(pair), json={"password": PASSWORD}
        )
        assert_problem(blocked, 429, "rate_limited")


@pytest.mark.parametrize(
    ("forwarded", "seen"),
    [
        ("198.51.100.4:5555", "198.51.100.4"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("garbage", "203.0.113.7"),
        ("unknown, 198.51.100.9", "198.51.100.9"),
        ("198.51.100.9, garbage", "203.0.113.7"),
    ],
)
async def test_forwarded_addresses_are_parsed_not_trusted_blindly(
    app_with: AppWith, db: Database, forwarded: str, seen: str
) -> None:
    from sqlalchemy import text

    async with app_with(trusted_proxies=["203.0.113.0/24"]) as app, http_client(app) as client:
        body = register_body()
        response = await client.post(
            "/api/v1/auth/register", json=body, headers={"X-Forwarded-For": forwarded}
        )
        assert response.status_code == 201
        async with db.sessions() as session:
            ip = await session.scalar(
                text("SELECT host(ip) FROM auth.audit_events WHERE user_id = :u"),
                {"u": response.json()["user_id"]},
            )
    assert ip == seen


async def test_ipv4_mapped_proxy_peer_is_trusted(app_with: AppWith) -> None:
    async with app_with(trusted_proxies=["203.0.113.0/24"], rate_limit_enabled=True) as app:
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=False, client=("::ffff:203.0.113.9", 1234)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for index in range(5):
                headers = {"X-Forwarded-For": f"198.51.100.{index}"}
                assert (
                    await client.post("/api/v1/auth/register", json=register_body(), headers=headers)
                ).status_code == 201


async def test_every_forwarded_for_line_counts(limited: Any) -> None:
    """Issue #8: a proxy that adds its own X-Forwarded-For line (instead of appending) must not let a
    client's own line pick the bucket. Before: only the first line was read, eight 401s, never 429."""
    async for client in limited(trusted_proxies=["203.0.113.0/24"]):
        answers = []
        for index in range(8):
            # The client's forged line first, then the line the trusted proxy added.
            headers = [("X-Forwarded-For", f"192.0.2.{index}"), ("X-Forwarded-For", "198.51.100.20")]
            body = {"email": new_email(), "password": "whatever pass"}
            answers.append((await client.post("/api/v1/auth/login", json=body, headers=headers)).status_code)
        assert answers == [401] * 5 + [429] * 3


async def test_forwarded_for_lines_are_walked_from_the_right(app_with: AppWith, db: Database) -> None:
    from sqlalchemy import text

    async with app_with(trusted_proxies=["203.0.113.0/24", "10.0.0.0/8"]) as app, http_client(app) as client:
        headers = [("X-Forwarded-For", "192.0.2.1, 198.51.100.30"), ("X-Forwarded-For", "10.1.2.3")]
        response = await client.post("/api/v1/auth/register", json=register_body(), headers=headers)
        assert response.status_code == 201
        async with db.sessions() as session:
            ip = await session.scalar(
                text("SELECT host(ip) FROM auth.audit_events WHERE user_id = :u"),
                {"u": response.json()["user_id"]},
            )
    assert ip == "198.51.100.30"


def ipv6_client(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 4444))
    return httpx.AsyncClient(transport=transport, base_url="http://shop.test")


async def test_ipv6_clients_share_the_limit_of_their_64(app_with: AppWith) -> None:
    """Issue #8: one /64 is one client; before, each of its 2^64 addresses had a bucket of its own."""
    async with app_with(rate_limit_enabled=True) as app:
        for index in range(3):
            async with ipv6_client(app, f"2001:db8:1:2::{index + 1:x}") as client:
                assert (await client.post("/api/v1/auth/register", json=register_body())).status_code == 201
        async with ipv6_client(app, "2001:db8:1:2:ffff:ffff:ffff:ffff") as client:
            blocked = await client.post("/api/v1/auth/register", json=register_body())
            assert blocked.status_code == 429
        # The next /64 is another client.
        async with ipv6_client(app, "2001:db8:1:3::1") as client:
            assert (await client.post("/api/v1/auth/register", json=register_body())).status_code == 201


async def test_forwarded_ipv6_clients_are_limited_per_64(limited: Any) -> None:
    async for client in limited(trusted_proxies=["203.0.113.0/24"]):
        for index in range(3):
            headers = {"X-Forwarded-For": f"2001:db8:aa:bb:{index}::1"}
            response = await client.post("/api/v1/auth/register", json=register_body(), headers=headers)
            assert response.status_code == 201
        headers = {"X-Forwarded-For": "[2001:db8:aa:bb:9999::2]:443"}
        assert (
            await client.post("/api/v1/auth/register", json=register_body(), headers=headers)
        ).status_code == 429
