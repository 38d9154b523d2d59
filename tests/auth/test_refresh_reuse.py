"""Issue #8: a rotated refresh token answers `token_reused` every time it comes back, whatever became
of its session; the never-rotated token of a revoked session answers `token_revoked`."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.app import AppWith, http_client
from tests.support.auth import bearer, login, register_verified
from tests.support.problems import assert_problem

REFRESH = "/api/v1/auth/refresh"


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def test_a_rotated_token_is_reused_for_ever_after_a_reuse_revoked_its_session(
    app_with: AppWith,
) -> None:
    async with app_with(refresh_reuse_grace_seconds=0) as app, http_client(app) as client:
        pair = await login(client, await register_verified(client, app))
        new = (await refresh(client, pair["refresh_token"])).json()
        # The first reuse revokes the session; every later presentation is still a reuse.
        for _ in range(3):
            assert_problem(await refresh(client, pair["refresh_token"]), 401, "token_reused")
        # The session's newest token was never rotated: its session is revoked.
        assert_problem(await refresh(client, new["refresh_token"]), 401, "token_revoked")
        assert_problem(await client.get("/api/v1/auth/me", headers=bearer(new)), 401, "token_revoked")


async def test_a_rotated_token_is_reused_after_a_logout(client: httpx.AsyncClient, app: Any) -> None:
    pair = await login(client, await register_verified(client, app))
    new = (await refresh(client, pair["refresh_token"])).json()
    assert (await client.post("/api/v1/auth/logout", headers=bearer(new))).status_code == 204
    assert_problem(await refresh(client, pair["refresh_token"]), 401, "token_reused")
    assert_problem(await refresh(client, new["refresh_token"]), 401, "token_revoked")


async def test_concurrent_losers_under_grace_zero_stay_reused(app_with: AppWith, engine: AsyncEngine) -> None:
    """Ten refreshes of one token at once with a grace of 0: one wins, the losers revoke the session,
    and the spent token answers token_reused from then on, the winner's new token token_revoked."""
    async with app_with(live=True, refresh_reuse_grace_seconds=0) as app, http_client(app) as client:
        pair = await login(client, await register_verified(client, app))
        answers = await asyncio.gather(*(refresh(client, pair["refresh_token"]) for _ in range(10)))
        winners = [answer for answer in answers if answer.status_code == 200]
        assert len(winners) == 1
        for answer in answers:
            if answer.status_code != 200:
                assert_problem(answer, 401, "token_reused")
        for _ in range(2):
            assert_problem(await refresh(client, pair["refresh_token"]), 401, "token_reused")
        assert_problem(await refresh(client, winners[0].json()["refresh_token"]), 401, "token_revoked")
