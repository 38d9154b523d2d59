"""The audit log records security events, and never a password or a token."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from tests.support.auth import PASSWORD, bearer, login, outbox_tokens, register


async def audit_rows(app: Any) -> list[Any]:
    async with app.state.database.sessions() as session:
        return list(
            (
                await session.execute(
                    text(
                        "SELECT event, outcome, user_id, host(ip) AS ip, details::text AS details "
                        "FROM auth.audit_events ORDER BY id"
                    )
                )
            ).all()
        )


async def test_audit_trail(client: httpx.AsyncClient, app: Any) -> None:
    email = await register(client)
    token = (await outbox_tokens(app, email))[0]
    await client.post("/api/v1/auth/verify-email", json={"token": token})
    await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong password 1"})
    for _ in range(4):
        await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong password 1"})
    async with app.state.database.sessions() as session:
        await session.execute(
            text("UPDATE auth.users SET locked_until = NULL WHERE email = :e"), {"e": email}
        )
        await session.commit()
    pair = await login(client, email)
    refreshed = (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).json()
    await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    new_password = "another long pass phrase"
    await client.post(
        "/api/v1/auth/change-password",
        headers=bearer(refreshed),
        json={"current_password": PASSWORD, "new_password": new_password, "confirm_password": new_password},
    )
    await client.post("/api/v1/auth/logout-all", headers=bearer(refreshed))
    await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    reset = (await outbox_tokens(app, email, "reset-password"))[-1]
    await client.post(
        "/api/v1/auth/password-reset",
        json={"token": reset, "password": PASSWORD, "confirm_password": PASSWORD},
    )
    final = await login(client, email)
    before_deletion = await audit_rows(app)
    await client.request("DELETE", "/api/v1/auth/me", headers=bearer(final), json={"password": PASSWORD})

    rows = await audit_rows(app)
    seen = {(row.event, row.outcome) for row in rows}
    for expected in [
        ("register", "success"),
        ("verify_email", "success"),
        ("login", "failure"),
        ("lockout", "locked"),
        ("login", "success"),
        ("refresh_reuse", "grace"),
        ("password_change", "success"),
        ("logout_all", "success"),
        ("password_reset", "success"),
        ("account_delete", "success"),
    ]:
        assert expected in seen, expected
    assert all(row.ip == "203.0.113.7" for row in before_deletion)
    # The account is gone: its trail keeps the user id, the events and their times only.
    assert all(row.ip is None and row.details is None for row in rows)
    dump = repr(before_deletion)
    for secret in (PASSWORD, new_password, token, reset, pair["refresh_token"], pair["access_token"]):
        assert secret not in dump
