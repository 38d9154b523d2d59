"""The admin role: user search and changes, and `shop create-admin`."""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.auth.models import AuditEvent, TotpFactor, User
from shop.cli import main as cli
from shop.core.config import get_settings
from shop.core.mail.outbox import OutboxMail
from tests.support.auth import PASSWORD, USER_FIELDS, bearer, login, register_verified
from tests.support.factories import signed_in_user
from tests.support.problems import assert_problem


async def test_admin_endpoints_need_the_admin_role(client: httpx.AsyncClient, app: Any) -> None:
    customer = await signed_in_user(app)
    response = await client.get("/api/v1/admin/users", headers=customer.headers)
    assert_problem(response, 403, "forbidden")
    patch = await client.patch(
        f"/api/v1/admin/users/{customer.user_id}", headers=customer.headers, json={"role": "admin"}
    )
    assert patch.status_code == 403
    assert (await client.get("/api/v1/admin/users")).status_code == 401


async def test_admin_finds_users(client: httpx.AsyncClient, app: Any) -> None:
    admin = await signed_in_user(app, role="admin")
    email = await register_verified(client, app)
    found = await client.get("/api/v1/admin/users", params={"email": email.upper()}, headers=admin.headers)
    assert found.status_code == 200
    assert [user["email"] for user in found.json()] == [email]
    assert set(found.json()[0]) == USER_FIELDS
    newest = (await client.get("/api/v1/admin/users", headers=admin.headers)).json()
    assert 2 <= len(newest) <= 50
    assert email in [user["email"] for user in newest]
    assert (
        await client.get("/api/v1/admin/users", params={"email": "nobody@example.com"}, headers=admin.headers)
    ).json() == []


async def test_deactivation_revokes_every_session(client: httpx.AsyncClient, app: Any) -> None:
    admin = await signed_in_user(app, role="admin")
    email = await register_verified(client, app)
    pair = await login(client, email)
    user_id = pair["user"]["id"]
    response = await client.patch(
        f"/api/v1/admin/users/{user_id}", headers=admin.headers, json={"is_active": False}
    )
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert (await client.get("/api/v1/auth/me", headers=bearer(pair))).json()["code"] == "token_revoked"
    relogin = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert_problem(relogin, 403, "account_disabled")
    again = await client.patch(
        f"/api/v1/admin/users/{user_id}", headers=admin.headers, json={"is_active": True, "role": "admin"}
    )
    assert again.json()["role"] == "admin" and again.json()["is_active"] is True
    promoted = await login(client, email)
    assert (await client.get("/api/v1/admin/users", headers=bearer(promoted))).status_code == 200


async def test_admin_patch_errors(client: httpx.AsyncClient, app: Any) -> None:
    admin = await signed_in_user(app, role="admin")
    missing = await client.patch(
        f"/api/v1/admin/users/{uuid.uuid4()}", headers=admin.headers, json={"is_active": False}
    )
    assert_problem(missing, 404, "not_found")
    for payload in ({"role": "root"}, {"email_verified": True}, {"is_active": "maybe"}):
        response = await client.patch(
            f"/api/v1/admin/users/{admin.user_id}", headers=admin.headers, json=payload
        )
        assert response.status_code == 422, payload


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Any) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("ARGON2_MEMORY_COST", "1024")
    monkeypatch.setenv("ARGON2_TIME_COST", "1")
    get_settings.cache_clear()


async def run_cli(*args: str, stdin: str = "") -> None:
    import asyncio
    import sys

    def call() -> None:
        previous = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            cli(list(args))
        finally:
            sys.stdin = previous
            get_settings.cache_clear()

    await asyncio.to_thread(call)


async def test_create_admin_command(
    cli_env: None, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    email = f"Admin-{uuid.uuid4().hex[:8]}@Example.com"
    try:
        await run_cli("create-admin", email, stdin="an admin pass phrase\n")
        async with engine.connect() as connection:
            user = (await connection.execute(select(User).where(User.email == email.lower()))).one()
        assert user.role == "admin" and user.email_verified and user.is_active
        first_hash = user.password_hash
        # Again: the account exists, so it stays as it is, password included.
        await run_cli("create-admin", email)
        async with engine.connect() as connection:
            again = (await connection.execute(select(User).where(User.email == email.lower()))).one()
        assert again.password_hash == first_hash
        assert "promoted" in capsys.readouterr().out
        with pytest.raises(SystemExit):
            await run_cli("create-admin", f"weak-{uuid.uuid4().hex[:6]}@example.com", stdin="password\n")
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(User).where(User.email == email.lower()))


async def test_create_admin_says_when_admins_need_two_step_sign_in(
    cli_env: None, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    try:
        await run_cli("create-admin", email, stdin="an admin pass phrase\n")
        assert "ADMIN_MFA_REQUIRED" not in capsys.readouterr().out
        monkeypatch.setenv("ADMIN_MFA_REQUIRED", "true")
        await run_cli("create-admin", email)
        out = capsys.readouterr().out
        assert "promoted" in out and "ADMIN_MFA_REQUIRED is on" in out and "/mfa/verify" in out
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(User).where(User.email == email))


async def test_mfa_off_command_is_the_way_back_for_a_lost_authenticator(
    cli_env: None, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """The last admin lost the device (or a new JWT_SECRET_KEY voided every authenticator): with
    ADMIN_MFA_REQUIRED no admin can reach DELETE /admin/users/{id}/mfa, so the operator turns it off
    from the command line — the same change, audited and mailed."""
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    try:
        await run_cli("create-admin", email, stdin="an admin pass phrase\n")
        async with engine.begin() as connection:
            user_id = await connection.scalar(select(User.id).where(User.email == email))
            await connection.execute(
                insert(TotpFactor).values(user_id=user_id, secret=b"sealed elsewhere", enabled_at=func.now())
            )
        capsys.readouterr()
        await run_cli("mfa-off", email.upper())
        assert "two-step sign-in turned off" in capsys.readouterr().out
        async with engine.connect() as connection:
            factors = await connection.scalar(select(func.count()).where(TotpFactor.user_id == user_id))
            audit = (
                await connection.execute(
                    select(AuditEvent.details).where(
                        AuditEvent.user_id == user_id, AuditEvent.event == "mfa_admin_reset"
                    )
                )
            ).one()
            mailed = await connection.scalar(select(func.count()).where(OutboxMail.recipient == email))
        assert factors == 0
        assert audit.details == {"by": "command line"}
        assert mailed == 1
        # Not on (any more), or no such account: one line, non-zero.
        with pytest.raises(SystemExit, match="not on"):
            await run_cli("mfa-off", email)
        with pytest.raises(SystemExit, match="no account"):
            await run_cli("mfa-off", "nobody-here@example.com")
    finally:
        # Committed for the command line to see: nothing of it may stay for other tests to meet.
        async with engine.begin() as connection:
            await connection.execute(delete(OutboxMail).where(OutboxMail.recipient == email))
            await connection.execute(
                delete(AuditEvent).where(AuditEvent.user_id.in_(select(User.id).where(User.email == email)))
            )
            await connection.execute(delete(User).where(User.email == email))
