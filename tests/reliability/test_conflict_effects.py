"""A request whose transaction PostgreSQL ends in a real deadlock is tried again, and only its
transaction repeats: the rate-limit hit, the argon2 run and the metric counter of the request happen
once, the write commits once, and the saved mail an erasure removes goes only after the commit.

The deadlock: the test's own connection blocks a table the request writes late (the request then
waits, holding its user row), and then asks for that user row itself. The request's backend checks
for the deadlock first and is the one ended."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.auth.passwords import PasswordHasher
from shop.core.mail.sender import MailSender
from shop.core.metrics import REGISTRY
from tests.reliability.test_deadlocks import CONFLICT_LOG, _until_waiting_on_a_lock
from tests.support.app import AppWith, http_client, make_settings
from tests.support.auth import PASSWORD, bearer, login, register_verified


class _CountingHasher(PasswordHasher):
    """The real hasher, counting the argon2 verifies it actually runs."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.verified = 0

    async def _verify(self, password: str, hashed: str) -> tuple[bool, str | None]:
        self.verified += 1
        return await super()._verify(password, hashed)


@pytest.fixture
async def live(
    app_with: AppWith, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Any, httpx.AsyncClient, _CountingHasher]]:
    # One sign-in or re-authentication a minute per account and address: a hit counted twice is
    # a 429. No SMTP_HOST: mail is saved as .eml files under the data dir.
    settings = make_settings(
        database_url, tmp_path, rate_limit_enabled=True, rate_limit_login="1/minute", redis_url=None
    )
    hasher = _CountingHasher(settings)
    async with app_with(settings=settings, live=True, hasher=hasher) as app, http_client(app) as client:
        yield app, client, hasher


def _conflicts(caplog: pytest.LogCaptureFixture) -> int:
    return sum(CONFLICT_LOG in record.getMessage() for record in caplog.records)


def _logins(outcome: str) -> float:
    return REGISTRY.get_sample_value("shop_logins_total", {"outcome": outcome}) or 0.0


async def _deadlocked(
    engine: AsyncEngine,
    user_id: str,
    table: str,
    request: Coroutine[Any, Any, httpx.Response],
    *,
    row_first: bool = False,
) -> httpx.Response:
    """Blocks writes to `table` until `request` waits on it, then locks the request's user row; with
    `row_first`, the other way round — for a request whose one statement takes its tables' locks
    before it updates a row (a password login), which the first order would only make wait."""
    lock_table = (text(f"LOCK TABLE {table} IN SHARE MODE"), {})
    lock_row = (text("SELECT 1 FROM auth.users WHERE id = :u FOR UPDATE"), {"u": user_id})
    first, then = (lock_row, lock_table) if row_first else (lock_table, lock_row)
    async with engine.connect() as other:
        await other.execute(text("SET LOCAL deadlock_timeout = '30s'"))
        await other.execute(*first)
        request_started = asyncio.ensure_future(request)
        await _until_waiting_on_a_lock(engine)
        await other.execute(*then)
        await other.rollback()
        return await request_started


async def test_a_deadlocked_login_hits_hashes_and_counts_once(
    live: tuple[Any, httpx.AsyncClient, _CountingHasher],
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, client, hasher = live
    caplog.set_level(logging.WARNING, logger="shop.request")
    email = await register_verified(client, app)
    async with engine.connect() as probe:
        user_id = str(await probe.scalar(text("SELECT id FROM auth.users WHERE email = :e"), {"e": email}))
    successes, verified = _logins("success"), hasher.verified

    # A coroutine, not a task: it starts only once the table is locked (a task could finish first).
    request = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    answer = await _deadlocked(engine, user_id, "auth.sessions", request, row_first=True)

    assert answer.status_code == 200, answer.text  # a second hit of the 1/minute budget: 429
    assert _conflicts(caplog) == 1, caplog.text
    assert hasher.verified == verified + 1
    assert _logins("success") == successes + 1
    async with engine.connect() as probe:
        sessions = await probe.scalar(
            text("SELECT count(*) FROM auth.sessions WHERE user_id = :u"), {"u": user_id}
        )
    assert sessions == 1  # the write committed once
    me = await client.get("/api/v1/auth/me", headers=bearer(answer.json()))
    assert me.status_code == 200


async def test_a_deadlocked_erasure_removes_saved_mail_after_its_commit(
    live: tuple[Any, httpx.AsyncClient, _CountingHasher],
    engine: AsyncEngine,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, client, hasher = live
    caplog.set_level(logging.WARNING, logger="shop.request")
    email = await register_verified(client, app)
    pair = await login(client, email)
    user_id = pair["user"]["id"]
    await MailSender(app.state.settings, app.state.database).drain_once()
    saved = sorted((tmp_path / "mail").glob("*.eml"))
    assert saved  # the verification mail, saved as a file
    verified = hasher.verified

    request = client.request("DELETE", "/api/v1/auth/me", headers=bearer(pair), json={"password": PASSWORD})
    async with engine.connect() as other:
        await other.execute(text("SET LOCAL deadlock_timeout = '30s'"))
        await other.execute(text("LOCK TABLE auth.audit_events IN SHARE MODE"))
        pending = asyncio.ensure_future(request)
        await _until_waiting_on_a_lock(engine)
        # The erasure waits, its user row held; its mail is still there.
        assert all(path.exists() for path in saved)
        await other.execute(text("SELECT 1 FROM auth.users WHERE id = :u FOR UPDATE"), {"u": user_id})
        await other.rollback()
        answer = await pending

    assert answer.status_code == 204, answer.text  # a second re-authentication hit: 429
    assert _conflicts(caplog) == 1, caplog.text
    assert hasher.verified == verified + 1
    assert not any(path.exists() for path in saved)
    async with engine.connect() as probe:
        users = await probe.scalar(text("SELECT count(*) FROM auth.users WHERE id = :u"), {"u": user_id})
    assert users == 0
