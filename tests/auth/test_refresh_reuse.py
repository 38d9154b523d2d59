"""Issue #8: a rotated refresh token answers `token_reused` every time it comes back, whatever became
of its session; the never-rotated token of a revoked session answers `token_revoked`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.bootstrap import create_app
from shop.core.db import Database
from tests.support.app import http_client, make_settings, truncate_mutable
from tests.support.auth import bearer, login, register_verified
from tests.support.problems import assert_problem

REFRESH = "/api/v1/auth/refresh"


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def test_a_rotated_token_is_reused_for_ever_after_a_reuse_revoked_its_session(
    database_url: str, tmp_path: Path, db: Database
) -> None:
    app = create_app(
        make_settings(database_url, tmp_path, refresh_reuse_grace_seconds=0),
        database=db,
        run_background_loops=False,
    )
    async with app.router.lifespan_context(app), http_client(app) as client:
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


async def test_concurrent_losers_under_grace_zero_stay_reused(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """Ten refreshes of one token at once with a grace of 0: one wins, the losers revoke the session,
    and the spent token answers token_reused from then on, the winner's new token token_revoked."""
    settings = make_settings(database_url, tmp_path, refresh_reuse_grace_seconds=0)
    app = create_app(settings, run_background_loops=False)
    try:
        async with app.router.lifespan_context(app), http_client(app) as client:
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
    finally:
        await truncate_mutable(engine)
