"""Issue #8: SESSION_MAX_LIFETIME_SECONDS — no refresh extends a session beyond its login plus that
lifetime, the token pair and the session list say so, and past it the session's tokens are refused."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from tests.support.app import AppWith, http_client
from tests.support.auth import bearer, login, register_verified
from tests.support.problems import assert_problem

REFRESH = "/api/v1/auth/refresh"
HOUR = 3600


async def age_sessions(app: Any, email: str, seconds: int) -> None:
    """Move the user's sessions `seconds` into the past (as if the login had been that long ago)."""
    async with app.state.database.sessions() as session:
        await session.execute(
            text(
                "UPDATE auth.sessions SET created_at = created_at - make_interval(secs => :s) "
                "WHERE user_id = (SELECT id FROM auth.users WHERE email = :e)"
            ),
            {"s": seconds, "e": email},
        )
        await session.commit()


async def test_refreshes_never_extend_a_session_past_its_maximum_lifetime(app_with: AppWith) -> None:
    async with app_with(session_max_lifetime_seconds=HOUR) as app, http_client(app) as client:
        email = await register_verified(client, app)
        pair = await login(client, email)
        assert pair["refresh_expires_in"] == HOUR  # not the refresh token's 30 days
        await age_sessions(app, email, HOUR - 600)
        refreshed = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
        assert refreshed.status_code == 200
        assert 590 <= refreshed.json()["refresh_expires_in"] <= 600
        (listed,) = (await client.get("/api/v1/auth/sessions", headers=bearer(refreshed.json()))).json()
        async with app.state.database.sessions() as session:
            created = await session.scalar(
                text("SELECT created_at FROM auth.sessions WHERE id = :id"), {"id": listed["id"]}
            )
            token_expiry = await session.scalar(
                text("SELECT expires_at FROM auth.refresh_tokens WHERE token_hash = :h"),
                {"h": hashlib.sha256(refreshed.json()["refresh_token"].encode()).digest()},
            )
        assert datetime.fromisoformat(listed["expires_at"]) == created + timedelta(seconds=HOUR)
        assert token_expiry == created + timedelta(seconds=HOUR)


async def test_a_session_past_its_maximum_lifetime_is_refused(client: httpx.AsyncClient, app: Any) -> None:
    """Default 90 days: a session whose login is older is refused, though refreshed yesterday."""
    assert app.state.settings.session_max_lifetime_seconds == 90 * 24 * HOUR
    email = await register_verified(client, app)
    pair = await login(client, email)
    await age_sessions(app, email, 90 * 24 * HOUR - 60)
    assert (await client.get("/api/v1/auth/me", headers=bearer(pair))).status_code == 200
    await age_sessions(app, email, 61)
    assert_problem(await client.get("/api/v1/auth/me", headers=bearer(pair)), 401, "token_revoked")
    assert_problem(
        await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), 401, "token_expired"
    )
