"""A password sign-in's statements: the account read, then — the password right — one statement for
the lockout reset and the new session: two round trips on the wire (no BEGIN, no COMMIT). A lock that
arrives while the password is checked opens nothing and answers 423, as before."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from shop.auth.models import AuditEvent, Session, User
from shop.auth.passwords import PasswordHasher
from tests.auth.test_passkeys import execute, scalar, user_id_of
from tests.support.app import AppWith
from tests.support.auth import PASSWORD, register_verified
from tests.support.problems import assert_problem
from tests.support.roundtrips import counted_app, last_request_trips

LOGIN = "/api/v1/auth/login"


async def test_a_login_is_two_round_trips(app_with: AppWith, database_url: str) -> None:
    async with counted_app(app_with, database_url) as (proxy, app, client):
        email = await register_verified(client, app)

        async def credentials() -> dict[str, str]:
            return {"email": email, "password": PASSWORD}

        async def sign_in(body: dict[str, str]) -> None:
            response = await client.post(LOGIN, json=body)
            assert response.status_code == 200, response.text

        count, sent = await last_request_trips(proxy, sign_in, credentials)
    assert count == 2, sent
    assert sent[0].startswith("SELECT auth.users.id, auth.users.email, auth.users.password_hash"), sent
    assert sent[1].startswith("WITH signing_in AS ( UPDATE auth.users"), sent
    assert "INSERT INTO auth.sessions" in sent[1] and "INSERT INTO auth.audit_events" in sent[1], sent


async def test_a_success_resets_the_count_and_keeps_a_rehash(
    client: httpx.AsyncClient, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = await register_verified(client, app)
    await execute(app, update(User).where(User.email == email).values(failed_login_count=3, lockout_count=2))
    verify = PasswordHasher.verify

    async def rehashed(self: PasswordHasher, password: str, hashed: str) -> tuple[bool, str | None]:
        ok, _ = await verify(self, password, hashed)
        return ok, "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$rehashedrehashedrehashed"

    monkeypatch.setattr(PasswordHasher, "verify", rehashed)
    user_id = await user_id_of(app, email)
    count = select(func.count()).select_from(Session).where(Session.user_id == user_id)
    before = await scalar(app, count)
    response = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert await scalar(app, count) == before + 1
    user = await scalar(app, select(User).where(User.id == user_id))
    assert (user.failed_login_count, user.lockout_count, user.locked_until) == (0, 0, None)
    assert user.last_login_at is not None
    assert user.password_hash.endswith("rehashedrehashedrehashed")


async def test_a_lock_that_arrives_during_the_check_opens_nothing(
    client: httpx.AsyncClient, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = await register_verified(client, app)
    user_id = await user_id_of(app, email)
    verify = PasswordHasher.verify

    async def then_locked(self: PasswordHasher, password: str, hashed: str) -> tuple[bool, str | None]:
        result = await verify(self, password, hashed)
        # Failures from elsewhere locked the account while this password was being checked.
        locked = (
            update(User)
            .where(User.id == user_id)
            .values(locked_until=func.now() + func.make_interval(0, 0, 0, 0, 0, 15))
        )
        await execute(app, locked.values(failed_login_count=5, lockout_count=1))
        return result

    monkeypatch.setattr(PasswordHasher, "verify", then_locked)
    refused = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert_problem(refused, 423, "account_locked")
    sessions = await scalar(app, select(func.count()).select_from(Session).where(Session.user_id == user_id))
    assert sessions == 0
    user = await scalar(app, select(User).where(User.id == user_id))
    # The lock and its count stand: the reset did not happen.
    assert (user.failed_login_count, user.lockout_count) == (5, 1) and user.locked_until is not None
    outcomes = await scalar(
        app,
        select(func.array_agg(AuditEvent.outcome)).where(
            AuditEvent.user_id == user_id, AuditEvent.event == "login"
        ),
    )
    assert outcomes == ["locked"]
