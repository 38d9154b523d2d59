"""Issue #8 §5: after DELETE /me no table and no saved mail file holds the user's email, names,
phone, postal address or IP address; and a writing request authenticated just before the deletion
commits cannot bring a profile back."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.core.db import Database
from shop.core.mail.sender import MailSender
from tests.support.app import AppWith
from tests.support.auth import PASSWORD, auth_upkeep, bearer, login, outbox_tokens, register
from tests.support.problems import assert_problem
from tests.support.self_service import ask_email_change, confirm_email_change, outbox_change_tokens
from tests.support.waiting import wait_until_async

# The user's own address: no other test's rows carry it.
USER_IP = "198.51.100.201"


def client_from(app: Any, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://shop.test")


async def rows_naming(session: Any, values: list[str]) -> dict[str, int]:
    """Rows of every table of every schema whose text holds one of `values` (case-insensitive)."""
    tables = (
        await session.execute(
            text(
                "SELECT schemaname, tablename FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'public')"
            )
        )
    ).all()
    patterns = [f"%{value}%" for value in values]
    found = {}
    for schema, table in tables:
        count = await session.scalar(
            text(f'SELECT count(*) FROM "{schema}"."{table}" t WHERE t::text ILIKE ANY(:p)'),  # noqa: S608 - names from pg_tables
            {"p": patterns},
        )
        if count:
            found[f"{schema}.{table}"] = count
    return found


def files_naming(folder: Path, values: list[str]) -> list[Path]:
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and any(value.lower().encode() in path.read_bytes().lower() for value in values)
    ]


async def test_deletion_leaves_nothing_that_names_the_user(
    app_with: AppWith, tmp_path: Path, db: Database
) -> None:
    # No SMTP_HOST: mail is saved as .eml files under the data dir.
    tag = uuid.uuid4().hex[:8]
    personal = {
        "first_name": f"Zebulon{tag}",
        "last_name": f"Quartermaine{tag}",
        "phone": "+442079460958",
    }
    address = {
        "type": "both",
        "first_name": f"Zebulon{tag}",
        "last_name": f"Quartermaine{tag}",
        "address_line_1": f"{tag} Lantern Row",
        "city": f"Hollowmere{tag}",
        # Hong Kong has no postal codes to check this one against: it is stored as sent, a trace to look for.
        "region": "Kowloon",
        "postal_code": f"Z{tag[:6]}",
        "country_code": "HK",
        "phone": "+442079460959",
    }
    async with app_with() as app, client_from(app, USER_IP) as client:
        sender = MailSender(app.state.settings, db)
        email = await register(client)
        token = (await outbox_tokens(app, email))[0]
        await sender.drain_once()  # the verification mail is saved as a file
        assert (await client.post("/api/v1/auth/verify-email", json={"token": token})).status_code == 200
        pair = await login(client, email)
        assert (await client.patch("/api/v1/profile", headers=bearer(pair), json=personal)).status_code == 200
        assert (await client.post("/api/v1/addresses", headers=bearer(pair), json=address)).status_code == 201
        # A failed re-authentication and an MFA setup leave audit rows with details and the IP.
        wrong = {
            "current_password": "not it at all",
            "new_password": "x y z w v u",
            "confirm_password": "x y z w v u",
        }
        await client.post("/api/v1/auth/change-password", headers=bearer(pair), json=wrong)
        await client.post("/api/v1/auth/password-reset-request", json={"email": email})
        await auth_upkeep(app).fulfil_link_requests()
        await client.post("/api/v1/auth/password-reset-request", json={"email": email})  # still waiting
        await sender.drain_once()
        await auth_upkeep(app).fulfil_link_requests()  # a mail waiting in the outbox, unsent
        values = [
            email,
            *personal.values(),
            address["address_line_1"],
            address["city"],
            address["postal_code"],
            address["phone"],
            USER_IP,
        ]
        async with db.sessions() as session:
            before = await rows_naming(session, values)
        assert {
            "auth.users",
            "auth.sessions",
            "auth.audit_events",
            "mail.outbox",
            "users.profiles",
            "users.addresses",
        } <= set(before)
        assert len(files_naming(tmp_path, values)) >= 2  # the verification and the reset mail

        deleted = await client.request(
            "DELETE", "/api/v1/auth/me", headers=bearer(pair), json={"password": PASSWORD}
        )
        assert deleted.status_code == 204

        async with db.sessions() as session:
            assert await rows_naming(session, values) == {}
            trail = (
                await session.execute(
                    text("SELECT event, ip, user_agent, details FROM auth.audit_events WHERE user_id = :u"),
                    {"u": pair["user"]["id"]},
                )
            ).all()
        # The trail keeps the user id, the events and their time, and nothing else.
        assert {"register", "login", "account_delete"} <= {row.event for row in trail}
        assert all(row.ip is None and row.user_agent is None and row.details is None for row in trail)
        assert files_naming(tmp_path, values) == []


async def test_a_write_authenticated_before_the_deletion_commits_cannot_recreate_the_profile(
    app_with: AppWith, engine: AsyncEngine
) -> None:
    """Real concurrency: PATCH /profile passes the bearer check, then stalls (the test holds a lock on
    the languages it must read) while DELETE /me runs. Without a lock between them the deletion
    commits first and the stalled write creates the profile again for a user who no longer exists."""
    async with app_with(live=True) as app, client_from(app, "198.51.100.202") as client:
        email = await register(client)
        token = (await outbox_tokens(app, email))[0]
        await client.post("/api/v1/auth/verify-email", json={"token": token})
        pair = await login(client, email)
        user_id = pair["user"]["id"]
        async with engine.connect() as blocker:
            await blocker.execute(text("LOCK TABLE localization.languages IN ACCESS EXCLUSIVE MODE"))

            async def waiting_on_locks() -> int:
                async with engine.connect() as probe:
                    return int(
                        await probe.scalar(
                            text(
                                "SELECT count(*) FROM pg_stat_activity "
                                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                            )
                        )
                        or 0
                    )

            write = asyncio.create_task(
                client.patch("/api/v1/profile", headers=bearer(pair), json={"preferred_language": "es"})
            )
            await wait_until_async(lambda: _at_least(waiting_on_locks, 1), "the write waits on a lock")
            deletion = asyncio.create_task(
                client.request("DELETE", "/api/v1/auth/me", headers=bearer(pair), json={"password": PASSWORD})
            )

            async def deletion_done_or_waiting() -> bool:
                return deletion.done() or await waiting_on_locks() >= 2

            await wait_until_async(deletion_done_or_waiting, "the deletion ends or waits too")
            await blocker.rollback()  # the write goes on
        written, deleted = await asyncio.gather(write, deletion)
        assert deleted.status_code == 204
        assert written.status_code in (200, 401)
        async with engine.connect() as connection:
            profiles = await connection.scalar(
                text("SELECT count(*) FROM users.profiles WHERE user_id = :u"), {"u": user_id}
            )
            users = await connection.scalar(
                text("SELECT count(*) FROM auth.users WHERE id = :u"), {"u": user_id}
            )
        assert users == 0
        assert profiles == 0
        assert_problem(await client.get("/api/v1/profile", headers=bearer(pair)), 401, "token_revoked")


async def _at_least(count: Any, minimum: int) -> bool:
    return bool(await count() >= minimum)


async def test_deletion_after_an_email_change_leaves_nothing_naming_either_address(
    app_with: AppWith, tmp_path: Path, db: Database
) -> None:
    """Mail went to both addresses (the link to the new one, the notices to the old one), and the
    change's record names both: after DELETE /me none of it is left, in a table or a saved mail."""
    tag = uuid.uuid4().hex[:8]
    old, new = f"before-{tag}@example.com", f"after-{tag}@example.net"
    # No SMTP_HOST: mail is saved as .eml files.
    async with app_with() as app, client_from(app, "198.51.100.203") as client:
        sender = MailSender(app.state.settings, db)
        await register(client, old)
        token = (await outbox_tokens(app, old))[0]
        assert (await client.post("/api/v1/auth/verify-email", json={"token": token})).status_code == 200
        pair = await login(client, old)
        assert (await ask_email_change(client, pair, new)).status_code == 202
        (change,) = await outbox_change_tokens(app, new)
        await sender.drain_once()  # sent mail leaves no body at rest: the token is read before
        assert (await confirm_email_change(client, change)).status_code == 200
        await sender.drain_once()
        assert (await ask_email_change(client, pair, f"later-{tag}@example.org")).status_code == 202
        values = [old, new]
        async with db.sessions() as session:
            before = await rows_naming(session, values)
        assert {"auth.users", "auth.email_changes", "mail.outbox"} <= set(before)
        assert len(files_naming(tmp_path, values)) >= 3  # verification, notice of the ask, link, notice

        deleted = await client.request(
            "DELETE", "/api/v1/auth/me", headers=bearer(pair), json={"password": PASSWORD}
        )
        assert deleted.status_code == 204
        async with db.sessions() as session:
            assert await rows_naming(session, values) == {}
        assert files_naming(tmp_path, values) == []
