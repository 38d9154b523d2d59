"""Real parallel requests, each in its own transaction (the live app on its own pool)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from shop.auth.models import User
from shop.core.db import Database
from tests.support.auth import LINK, PASSWORD, bearer, login, new_email, register
from tests.support.lockout import assert_retry_after, locked_until, timed
from tests.support.smtp import SmtpSink


async def verified(client: httpx.AsyncClient, smtp: SmtpSink) -> str:
    email = await register(client)
    # The live app's sender delivers (and then blanks) the mail: read the token from SMTP.
    (message,) = await smtp.wait_for(email)
    match = LINK.search(message.get_content())
    assert match is not None
    token = match.group(2)
    assert (await client.post("/api/v1/auth/verify-email", json={"token": token})).status_code == 200
    return email


async def test_twenty_registrations_of_one_email(live_client: httpx.AsyncClient) -> None:
    email = new_email()
    payload = {"email": email, "password": PASSWORD, "confirm_password": PASSWORD}
    responses = await asyncio.gather(
        *(live_client.post("/api/v1/auth/register", json=payload) for _ in range(20))
    )
    codes = sorted(response.status_code for response in responses)
    assert codes == [201] + [409] * 19
    assert all(r.json()["code"] == "email_taken" for r in responses if r.status_code == 409)


async def test_ten_refreshes_of_one_token(live_client: httpx.AsyncClient, smtp: SmtpSink) -> None:
    pair = await login(live_client, await verified(live_client, smtp))
    responses = await asyncio.gather(
        *(
            live_client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            for _ in range(10)
        )
    )
    winners = [r for r in responses if r.status_code == 200]
    losers = [r for r in responses if r.status_code != 200]
    assert len(winners) == 1
    assert all(r.status_code == 401 and r.json()["code"] == "token_reused" for r in losers)
    # Within the grace window the session lives on.
    new = winners[0].json()
    assert (await live_client.get("/api/v1/auth/me", headers=bearer(new))).status_code == 200
    assert (
        await live_client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    ).status_code == 200


async def test_twenty_wrong_passwords_at_once_lock_the_account(
    live_client: httpx.AsyncClient, live_app: Any, smtp: SmtpSink
) -> None:
    email = await verified(live_client, smtp)
    database = live_app.state.database
    started = await database_now(database)
    responses = await timed(
        asyncio.gather(
            *(
                live_client.post("/api/v1/auth/login", json={"email": email, "password": "wrong password x"})
                for _ in range(20)
            )
        )
    )
    ended = await database_now(database)
    assert all(r.status_code in (401, 423) for r in responses.value)
    locked = [r for r in responses.value if r.status_code == 423]
    assert len(locked) >= 16  # the 5th and every later one
    # One lockout of 15 minutes, not several stacked: set by a transaction that began meanwhile.
    until = await locked_until(database, email)
    assert started <= until - timedelta(minutes=15) <= ended
    async with database.sessions() as session:
        assert await session.scalar(select(User.lockout_count).where(User.email == email)) == 1
    # Each 423 tells the real remaining time, also when a concurrent request set the lock.
    for response in locked:
        assert_retry_after(response.headers, until, responses.before, responses.after)
    right = await timed(live_client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}))
    assert right.value.status_code == 423
    assert_retry_after(right.value.headers, until, right.before, right.after)
    assert await locked_until(database, email) == until


async def database_now(database: Database) -> datetime:
    """PostgreSQL's clock, read in a transaction of its own."""
    async with database.sessions() as session:
        now = await session.scalar(select(func.now()))
    assert now is not None
    return now
