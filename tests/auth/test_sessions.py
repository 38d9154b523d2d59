"""Sessions, logout, password reset and change, account deletion, /protected."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select, text, update

from shop.auth.models import AuditEvent, EmailToken, User
from tests.support.auth import (
    PASSWORD,
    auth_upkeep,
    bearer,
    login,
    new_email,
    outbox_tokens,
    register,
    register_verified,
)
from tests.support.problems import assert_problem

ME = "/api/v1/auth/me"
NEW_PASSWORD = "a brand new pass phrase"


async def test_sessions_list_marks_current(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    first = await login(client, email)
    second = await login(client, email)
    response = await client.get(
        "/api/v1/auth/sessions", headers={**bearer(second), "User-Agent": "pytest-agent"}
    )
    assert response.status_code == 200
    sessions = response.json()
    assert len(sessions) == 2
    current = [item for item in sessions if item["current"]]
    assert len(current) == 1
    assert set(current[0]) == {
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "user_agent",
        "ip",
        "current",
    }
    assert all(item["ip"] == "203.0.113.7" for item in sessions)
    assert (await client.get(ME, headers=bearer(first))).status_code == 200


async def test_delete_session(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    first, second = await login(client, email), await login(client, email)
    listing = (await client.get("/api/v1/auth/sessions", headers=bearer(second))).json()
    other = next(item["id"] for item in listing if not item["current"])
    assert (await client.delete(f"/api/v1/auth/sessions/{other}", headers=bearer(second))).status_code == 204
    revoked = await client.get(ME, headers=bearer(first))
    assert_problem(revoked, 401, "token_revoked")
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert refresh.json()["code"] == "token_revoked"
    assert (await client.get(ME, headers=bearer(second))).status_code == 200
    # Unknown, already revoked, or someone else's: 404 alike.
    stranger = await login(client, await register_verified(client, app))
    stranger_sid = (await client.get("/api/v1/auth/sessions", headers=bearer(stranger))).json()[0]["id"]
    for sid in (str(uuid.uuid4()), other, stranger_sid):
        response = await client.delete(f"/api/v1/auth/sessions/{sid}", headers=bearer(second))
        assert_problem(response, 404, "not_found")
    assert (await client.get(ME, headers=bearer(stranger))).status_code == 200
    assert (
        await client.delete("/api/v1/auth/sessions/not-a-uuid", headers=bearer(second))
    ).status_code == 422


async def test_logout_revokes_only_this_session(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    first, second = await login(client, email), await login(client, email)
    response = await client.post(
        "/api/v1/auth/logout", headers=bearer(first), json={"refresh_token": first["refresh_token"]}
    )
    assert response.status_code == 204
    assert (await client.get(ME, headers=bearer(first))).json()["code"] == "token_revoked"
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()[
        "code"
    ] == "token_revoked"
    assert (await client.get(ME, headers=bearer(second))).status_code == 200
    assert (await client.post("/api/v1/auth/logout")).status_code == 401


async def test_logout_all(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pairs = [await login(client, email) for _ in range(3)]
    assert (await client.post("/api/v1/auth/logout-all", headers=bearer(pairs[0]))).status_code == 204
    for pair in pairs:
        assert (await client.get(ME, headers=bearer(pair))).json()["code"] == "token_revoked"


async def test_protected(client: httpx.AsyncClient, app: Any) -> None:
    pair = await login(client, await register_verified(client, app))
    response = await client.get("/api/v1/auth/protected", headers=bearer(pair))
    assert response.status_code == 200
    assert response.json()["user_id"] == pair["user"]["id"] and response.json()["message"]
    assert (await client.get("/api/v1/auth/protected")).status_code == 401


async def test_change_password(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    other, current = await login(client, email), await login(client, email)
    url = "/api/v1/auth/change-password"
    wrong = await client.post(
        url,
        headers=bearer(current),
        json={
            "current_password": "not it at all",
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert_problem(wrong, 400, "invalid_current_password")
    common = await client.post(
        url,
        headers=bearer(current),
        json={"current_password": PASSWORD, "new_password": "password123", "confirm_password": "password123"},
    )
    assert common.status_code == 422
    mismatch = await client.post(
        url,
        headers=bearer(current),
        json={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": "different one",
        },
    )
    assert mismatch.status_code == 422
    ok = await client.post(
        url,
        headers=bearer(current),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert ok.status_code == 200 and "message" in ok.json()
    assert (await client.get(ME, headers=bearer(current))).status_code == 200
    assert (await client.get(ME, headers=bearer(other))).json()["code"] == "token_revoked"
    old = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    await login(client, email, NEW_PASSWORD)


async def test_password_reset_flow(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    session_pair = await login(client, email)
    known = await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    unknown = await client.post("/api/v1/auth/password-reset-request", json={"email": new_email()})
    assert known.status_code == unknown.status_code == 202 and known.json() == unknown.json()
    tokens = await outbox_tokens(app, email, "reset-password")
    reset_token = tokens[-1]
    async with app.state.database.sessions() as session:
        body = await session.scalar(
            text("SELECT body FROM mail.outbox WHERE recipient = :r AND body LIKE '%reset-password%'"),
            {"r": email},
        )
        ttl = await session.scalar(
            select(func.extract("epoch", EmailToken.expires_at - EmailToken.created_at)).where(
                EmailToken.purpose == "reset"
            )
        )
    assert f"http://shop.test/reset-password?token={reset_token}" in body
    assert round(float(ttl)) == 3600
    payload = {"token": reset_token, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    response = await client.post("/api/v1/auth/password-reset", json=payload)
    assert response.status_code == 200
    assert (await client.get(ME, headers=bearer(session_pair))).json()["code"] == "token_revoked"
    await login(client, email, NEW_PASSWORD)
    again = await client.post("/api/v1/auth/password-reset", json=payload)
    assert_problem(again, 400, "token_invalid")


async def test_password_reset_rejects_bad_tokens_and_passwords(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    bad = await client.post(
        "/api/v1/auth/password-reset",
        json={"token": "unknown", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert_problem(bad, 400, "token_invalid")
    await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    token = (await outbox_tokens(app, email, "reset-password"))[-1]
    weak = await client.post(
        "/api/v1/auth/password-reset", json={"token": token, "password": email, "confirm_password": email}
    )
    assert weak.status_code == 422
    # The refused attempt did not spend the token: it still works.
    good = {"token": token, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    assert (await client.post("/api/v1/auth/password-reset", json=good)).status_code == 200
    await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    fresh = (await outbox_tokens(app, email, "reset-password"))[-1]
    async with app.state.database.sessions() as session:
        await session.execute(update(EmailToken).values(expires_at=text("now() - interval '1 second'")))
        await session.commit()
    expired = await client.post(
        "/api/v1/auth/password-reset",
        json={"token": fresh, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert_problem(expired, 400, "token_invalid")


async def test_password_reset_unlocks(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    for _ in range(5):
        await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong wrong wrong"})
    assert (
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).status_code == 423
    await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    token = (await outbox_tokens(app, email, "reset-password"))[-1]
    await client.post(
        "/api/v1/auth/password-reset",
        json={"token": token, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    await login(client, email, NEW_PASSWORD)
    async with app.state.database.sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
    assert user is not None and user.lockout_count == 0 and user.failed_login_count == 0


async def test_delete_account(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    wrong = await client.request("DELETE", ME, headers=bearer(pair), json={"password": "not my password"})
    assert_problem(wrong, 400, "invalid_current_password")
    missing = await client.request("DELETE", ME, headers=bearer(pair), json={})
    assert missing.status_code == 422
    ok = await client.request("DELETE", ME, headers=bearer(pair), json={"password": PASSWORD})
    assert ok.status_code == 204
    assert (await client.get(ME, headers=bearer(pair))).json()["code"] == "token_revoked"
    assert (
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).status_code == 401
    await register(client, email)  # the address is free again
    async with app.state.database.sessions() as session:
        events = (
            await session.scalars(select(AuditEvent.event).where(AuditEvent.event == "account_delete"))
        ).all()
    assert "account_delete" in events


async def test_a_new_reset_token_does_not_cancel_an_older_one(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    for _ in range(2):  # two links, mailed one after the other (asks waiting together send one)
        await client.post("/api/v1/auth/password-reset-request", json={"email": email})
        await auth_upkeep(app).fulfil_link_requests()
    older, newer = await outbox_tokens(app, email, "reset-password")
    assert older != newer
    payload = {"token": older, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    assert (await client.post("/api/v1/auth/password-reset", json=payload)).status_code == 200


async def test_a_reset_spends_every_other_reset_link(client: httpx.AsyncClient, app: Any) -> None:
    """Issue #8: a second link (say, in a mailbox someone else reads) must not reset the password
    again after the owner used the first."""
    email = await register_verified(client, app)
    for _ in range(2):  # two links, mailed one after the other (asks waiting together send one)
        await client.post("/api/v1/auth/password-reset-request", json={"email": email})
        await auth_upkeep(app).fulfil_link_requests()
    older, newer = await outbox_tokens(app, email, "reset-password")
    payload = {"token": older, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    assert (await client.post("/api/v1/auth/password-reset", json=payload)).status_code == 200
    attacker = {
        "token": newer,
        "password": "the attacker's pass phrase",
        "confirm_password": "the attacker's pass phrase",
    }
    stale = await client.post("/api/v1/auth/password-reset", json=attacker)
    assert stale.status_code == 400 and stale.json()["code"] == "token_invalid"
    await login(client, email, NEW_PASSWORD)


async def test_a_password_change_spends_every_reset_link(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    (link,) = await outbox_tokens(app, email, "reset-password")
    pair = await login(client, email)
    changed = await client.post(
        "/api/v1/auth/change-password",
        headers=bearer(pair),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200
    stale = await client.post(
        "/api/v1/auth/password-reset",
        json={
            "token": link,
            "password": "an older link's pass phrase",
            "confirm_password": "an older link's pass phrase",
        },
    )
    assert stale.status_code == 400 and stale.json()["code"] == "token_invalid"
    await login(client, email, NEW_PASSWORD)
    # A link asked for after the change works.
    await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    fresh = (await outbox_tokens(app, email, "reset-password"))[-1]
    payload = {"token": fresh, "password": PASSWORD, "confirm_password": PASSWORD}
    assert (await client.post("/api/v1/auth/password-reset", json=payload)).status_code == 200
