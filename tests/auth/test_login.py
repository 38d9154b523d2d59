"""Login: credentials, verification and disabling, lockout, rehashing, the OAuth2 form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, text, update

from shop.auth.models import User
from shop.core.config import Settings
from tests.support.app import AppWith, http_client
from tests.support.auth import (
    PASSWORD,
    USER_FIELDS,
    CountingHasher,
    bearer,
    login,
    new_email,
    register,
    register_verified,
)
from tests.support.lockout import assert_retry_after, lock_length, locked_until, timed
from tests.support.problems import assert_problem

LOGIN = "/api/v1/auth/login"


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


async def expire_lock(app: Any, email: str) -> None:
    async with app.state.database.sessions() as session:
        await session.execute(
            update(User).where(User.email == email).values(locked_until=text("now() - interval '1 second'"))
        )
        await session.commit()


async def test_login_returns_a_token_pair(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 3600
    assert pair["refresh_expires_in"] == 2592000
    assert pair["user"]["email"] == email and pair["user"]["email_verified"] is True
    me = await client.get("/api/v1/auth/me", headers=bearer(pair))
    assert me.json()["last_login_at"] is not None
    assert set(me.json()) == USER_FIELDS


async def test_unknown_email_and_wrong_password_look_the_same(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    wrong = await attempt(client, email, "not the password at all")
    unknown = await attempt(client, new_email(), "not the password at all")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "invalid_credentials"
    assert wrong.json() == unknown.json()


async def test_unknown_email_still_costs_a_password_verify(app_with: AppWith, settings: Settings) -> None:
    hasher = CountingHasher(settings)
    async with app_with(settings=settings, hasher=hasher) as app, http_client(app) as client:
        response = await attempt(client, new_email(), "whatever password")
    assert response.status_code == 401
    verified = hasher.checked
    assert len(verified) == 1 and verified[0].startswith("$argon2id$")


async def test_status_is_told_only_after_the_right_password(client: httpx.AsyncClient, app: Any) -> None:
    unverified = await register(client)
    assert (await attempt(client, unverified, "wrong password here")).json()["code"] == "invalid_credentials"
    assert (await attempt(client, unverified, PASSWORD)).json()["code"] == "email_not_verified"

    disabled = await register_verified(client, app)
    async with app.state.database.sessions() as session:
        await session.execute(update(User).where(User.email == disabled).values(is_active=False))
        await session.commit()
    assert (await attempt(client, disabled, "wrong password here")).status_code == 401
    response = await attempt(client, disabled, PASSWORD)
    assert_problem(response, 403, "account_disabled")


async def test_fifth_failure_locks_for_15_minutes(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    for _ in range(4):
        assert (await attempt(client, email, "wrong password here")).status_code == 401
    fifth = await timed(attempt(client, email, "wrong password here"))
    assert_problem(fifth.value, 423, "account_locked")
    assert await lock_length(app.state.database, email) == timedelta(minutes=15)
    until = await locked_until(app.state.database, email)
    assert_retry_after(fifth.value.headers, until, fifth.before, fifth.after)
    # Locked: the right password too answers 423, and attempts do not count.
    right = await timed(attempt(client, email, PASSWORD))
    assert right.value.status_code == 423
    assert_retry_after(right.value.headers, until, right.before, right.after)
    async with app.state.database.sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None and user.failed_login_count == 0 and user.lockout_count == 1


async def test_lockouts_double_and_reset_on_success(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    for _ in range(5):
        await attempt(client, email, "wrong password here")
    await expire_lock(app, email)
    # The count starts again from zero once the lock has expired...
    for _ in range(4):
        assert (await attempt(client, email, "wrong password here")).status_code == 401
    second = await timed(attempt(client, email, "wrong password here"))
    # ...and the next lock lasts twice as long.
    assert second.value.status_code == 423
    assert await lock_length(app.state.database, email) == timedelta(minutes=30)
    until = await locked_until(app.state.database, email)
    assert_retry_after(second.value.headers, until, second.before, second.after)
    await expire_lock(app, email)
    await login(client, email)  # success resets the count and the doubling
    for _ in range(4):
        await attempt(client, email, "wrong password here")
    last = await timed(attempt(client, email, "wrong password here"))
    assert last.value.status_code == 423
    assert await lock_length(app.state.database, email) == timedelta(minutes=15)
    until = await locked_until(app.state.database, email)
    assert_retry_after(last.value.headers, until, last.before, last.after)


async def test_lockout_is_capped_at_24_hours(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    async with app.state.database.sessions() as session:
        await session.execute(update(User).where(User.email == email).values(lockout_count=12))
        await session.commit()
    for _ in range(4):
        await attempt(client, email, "wrong password here")
    last = await timed(attempt(client, email, "wrong password here"))
    assert last.value.status_code == 423
    assert await lock_length(app.state.database, email) == timedelta(hours=24)
    until = await locked_until(app.state.database, email)
    assert_retry_after(last.value.headers, until, last.before, last.after)


async def test_oauth2_password_form(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"
    bad = await client.post("/api/v1/auth/token", data={"username": email, "password": "nope nope nope"})
    assert_problem(bad, 401, "invalid_credentials")
    not_email = await client.post("/api/v1/auth/token", data={"username": "nobody", "password": "nope nope"})
    assert not_email.status_code == 401


async def test_hash_is_upgraded_when_parameters_change(
    app_with: AppWith, client: httpx.AsyncClient, app: Any
) -> None:
    email = await register_verified(client, app)
    async with (
        app_with(argon2_memory_cost=2048, argon2_time_cost=2) as stronger,
        http_client(stronger) as other,
    ):
        await login(other, email)
    async with app.state.database.sessions() as session:
        stored = await session.scalar(select(User.password_hash).where(User.email == email))
    assert stored is not None and "m=2048,t=2" in stored
    await login(client, email)  # the new hash still verifies


async def test_lockout_doubling_never_overflows(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    async with app.state.database.sessions() as session:
        await session.execute(update(User).where(User.email == email).values(lockout_count=5000))
        await session.commit()
    for _ in range(5):
        last = await attempt(client, email, "wrong password here")
    assert last.status_code == 423
    assert await lock_length(app.state.database, email) == timedelta(hours=24)


async def test_token_form_refuses_overlong_passwords_without_hashing(
    client: httpx.AsyncClient, app: Any
) -> None:
    email = await register_verified(client, app)
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": "x" * 10_000})
    assert_problem(response, 401, "invalid_credentials")


async def test_metrics_count_login_outcomes_and_lockouts(client: httpx.AsyncClient, app: Any) -> None:
    def value(text_body: str, name: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text_body.splitlines()
            if line.startswith(name + " ") or line.startswith(name + "{")
        )

    before = (await client.get("/metrics")).text
    email = await register_verified(client, app)
    await login(client, email)
    for _ in range(5):
        await attempt(client, email, "wrong password here")
    after = (await client.get("/metrics")).text
    success = 'shop_logins_total{outcome="success"}'
    wrong = 'shop_logins_total{outcome="invalid_credentials"}'
    assert value(after, success) - value(before, success) == 1
    assert value(after, wrong) - value(before, wrong) == 4
    assert value(after, "shop_lockouts_total") - value(before, "shop_lockouts_total") == 1
    assert "shop_mail_outbox_backlog" in after
