"""A reset by mail unlocks the account and zeroes the count but keeps the lockout doubling, so that
whoever holds only the mailbox cannot renew a budget of guesses (of the second step's codes, or of
passwords: they count alike) by resetting again and again; and the owner is told by mail whenever
the password changes, by a reset or at /change-password, in their language."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from shop.auth.models import User
from shop.core.mail.outbox import OutboxMail
from tests.support.auth import PASSWORD, bearer, login, mail_subjects, outbox_tokens, register_verified
from tests.support.lockout import lock_length

WRONG = "not the password at all"
BASE = timedelta(seconds=900)  # LOCKOUT_BASE_SECONDS


async def lock(client: httpx.AsyncClient, email: str) -> None:
    for _ in range(5):
        response = await client.post("/api/v1/auth/login", json={"email": email, "password": WRONG})
    assert response.status_code == 423, response.text


async def reset(client: httpx.AsyncClient, app: Any, email: str, password: str) -> None:
    await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    token = (await outbox_tokens(app, email, "reset-password"))[-1]
    done = await client.post(
        "/api/v1/auth/password-reset",
        json={"token": token, "password": password, "confirm_password": password},
    )
    assert done.status_code == 200, done.text


async def row(app: Any, email: str) -> User:
    async with app.state.database.sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    return user


async def test_a_reset_unlocks_but_keeps_the_doubling(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    await lock(client, email)
    assert await lock_length(app.state.database, email) == BASE
    for round_, password in enumerate(
        ("reset number one ok", "reset number two ok", "reset number three"), 1
    ):
        await reset(client, app, email, password)
        user = await row(app, email)
        assert user.locked_until is None and user.failed_login_count == 0  # unlocked, counted afresh
        assert user.lockout_count == round_  # the doubling is kept
        await lock(client, email)
        # Twice the last lockout each time, as if no reset had happened (15, 30, 60 minutes...).
        assert await lock_length(app.state.database, email) == BASE * 2**round_
    # A completed sign-in, not a reset, forgets the doubling.
    await reset(client, app, email, PASSWORD)
    await login(client, email)
    assert (await row(app, email)).lockout_count == 0


async def test_the_owner_is_told_of_a_password_change_and_reset(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    changed = await client.post(
        "/api/v1/auth/change-password",
        json={
            "current_password": PASSWORD,
            "new_password": "a brand new secret",
            "confirm_password": "a brand new secret",
        },
        headers=bearer(pair),
    )
    assert changed.status_code == 200, changed.text
    assert (await mail_subjects(app, email)).count("Your password was changed") == 1
    await reset(client, app, email, "another brand new secret")
    assert (await mail_subjects(app, email)).count("Your password was changed") == 2


async def test_the_password_changed_mail_is_in_the_users_language(
    client: httpx.AsyncClient, app: Any
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    profile = await client.patch("/api/v1/profile", json={"preferred_language": "es"}, headers=bearer(pair))
    assert profile.status_code == 200, profile.text
    await reset(client, app, email, "una contraseña nueva")
    assert "Se ha cambiado tu contraseña" in await mail_subjects(app, email)
    async with app.state.database.sessions() as session:
        body = await session.scalar(
            select(OutboxMail.body).where(
                OutboxMail.recipient == email, OutboxMail.subject == "Se ha cambiado tu contraseña"
            )
        )
    assert body is not None and "token=" not in body and "http" not in body  # no link that acts
