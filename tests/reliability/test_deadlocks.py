"""Deadlocks never answer 500: real concurrent requests, each in its own transaction (the app on
its own pool), against the test PostgreSQL.

An account's deletion and an admin's change of that account take their locks in one order, so they
never deadlock (before: a 500 `internal_error`); a deadlock shop cannot order away (here one the test
makes with a connection of its own) is tried again, and the request gets its normal answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.app import AppWith, http_client
from tests.support.auth import PASSWORD, bearer, login, register_verified
from tests.support.factories import signed_in_user
from tests.support.problems import assert_problem

CONFLICT_LOG = "transaction ended by a conflict"
CHANGES: list[dict[str, Any]] = [
    {"is_active": False},
    {"role": "admin"},
    {"role": "customer"},
    {"is_active": True},
]


@pytest.fixture
async def live(app_with: AppWith) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with app_with(live=True) as app, http_client(app) as client:
        yield app, client


def _conflicts(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if CONFLICT_LOG in record.getMessage()]


async def test_deleting_an_account_while_an_admin_changes_it(
    live: tuple[Any, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    """DELETE /me twice (two tabs) and PATCH /admin/users/{id} at the same moment, in every kind of
    admin change. Before: the guard locked the user row FOR NO KEY UPDATE (not FOR KEY SHARE), and
    the deletion took the admins' lock after it while the admin's change took them the other way: a
    deadlock, answered 500."""
    app, client = live
    caplog.set_level(logging.WARNING, logger="shop.request")
    admin = await signed_in_user(app, role="admin")
    for round_ in range(16):
        change = CHANGES[round_ % len(CHANGES)]
        pair = await login(client, await register_verified(client, app))
        me = {"headers": bearer(pair), "json": {"password": PASSWORD}}
        first, patched, second = await asyncio.gather(
            client.request("DELETE", "/api/v1/auth/me", **me),
            client.patch(f"/api/v1/admin/users/{pair['user']['id']}", headers=admin.headers, json=change),
            client.request("DELETE", "/api/v1/auth/me", **me),
        )
        answers = [
            (r.status_code, r.json().get("code") if r.content else None) for r in (first, patched, second)
        ]
        deletions = sorted([first.status_code, second.status_code])
        if change == {"is_active": False} and deletions == [401, 401]:
            # The deactivation committed first: the account's sessions are not live, nothing deleted.
            assert patched.status_code == 200, answers
        else:
            # One deletion wins; the other finds the session gone with the account (documented 401).
            assert deletions == [204, 401], answers
        for loser in (r for r in (first, second) if r.status_code == 401):
            assert_problem(loser, 401, "token_revoked")
        # The admin's change came first (200) or found the account gone (404).
        assert patched.status_code in (200, 404), answers
        if patched.status_code == 404:
            assert_problem(patched, 404, "not_found")
    # Not a deadlock resolved by a retry: none happened at all.
    assert _conflicts(caplog) == []


async def test_a_deadlocked_request_is_tried_again(
    live: tuple[Any, httpx.AsyncClient], engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """A deadlock between PATCH /profile and another transaction (the test's own connection, locking
    the profile row and then the user row the request holds): PostgreSQL ends the request's
    transaction; shop runs the request again and it answers 200 (before: 500)."""
    app, client = live
    caplog.set_level(logging.WARNING, logger="shop.request")
    pair = await login(client, await register_verified(client, app))
    user_id = pair["user"]["id"]
    async with engine.connect() as other:
        # The request's backend checks for the deadlock first (after 1 s), so it is the one ended.
        await other.execute(text("SET LOCAL deadlock_timeout = '30s'"))
        await other.execute(
            text("SELECT 1 FROM users.profiles WHERE user_id = :u FOR UPDATE"), {"u": user_id}
        )
        request = asyncio.create_task(
            client.patch("/api/v1/profile", headers=bearer(pair), json={"first_name": "Ada"})
        )
        await _until_waiting_on_a_lock(engine)
        # The request holds its user row FOR KEY SHARE; this waits for it: a cycle.
        await other.execute(text("SELECT 1 FROM auth.users WHERE id = :u FOR UPDATE"), {"u": user_id})
        await other.rollback()
        answer = await request
    assert answer.status_code == 200, answer.text
    assert answer.json()["first_name"] == "Ada"
    assert len(_conflicts(caplog)) == 1, caplog.text


async def _until_waiting_on_a_lock(engine: AsyncEngine) -> None:
    for _ in range(3000):
        async with engine.connect() as probe:
            waiting = await probe.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the request never waited for the profile row")
