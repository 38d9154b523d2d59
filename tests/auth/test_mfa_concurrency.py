"""Two-step sign-in under real parallel requests (the live app on its own pool)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select

from shop.auth.models import Session
from tests.auth.test_concurrency import verified
from tests.support.auth import login
from tests.support.mfa import Clock, enrol, first_step, verify
from tests.support.smtp import SmtpSink


async def session_count(app: Any) -> int:
    async with app.state.database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Session)) or 0)


async def test_concurrent_verifies_of_one_mfa_token_start_one_session(
    live_client: httpx.AsyncClient, live_app: Any, smtp: SmtpSink, clock: Clock
) -> None:
    email = await verified(live_client, smtp)
    enrolled = await enrol(live_client, await login(live_client, email), clock)
    mfa_token = await first_step(live_client, email)
    before = await session_count(live_app)
    code = enrolled.app.next_code()
    responses = await asyncio.gather(*(verify(live_client, mfa_token, code=code) for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [200] + [401] * 7
    assert all(r.json()["code"] == "invalid_code" for r in responses if r.status_code == 401)
    assert await session_count(live_app) == before + 1


async def test_concurrent_verifies_with_different_recovery_codes_start_one_session(
    live_client: httpx.AsyncClient, live_app: Any, smtp: SmtpSink, clock: Clock
) -> None:
    email = await verified(live_client, smtp)
    enrolled = await enrol(live_client, await login(live_client, email), clock)
    mfa_token = await first_step(live_client, email)
    before = await session_count(live_app)
    responses = await asyncio.gather(
        *(verify(live_client, mfa_token, recovery_code=code) for code in enrolled.recovery_codes[:6])
    )
    assert sorted(r.status_code for r in responses) == [200] + [401] * 5
    assert await session_count(live_app) == before + 1
