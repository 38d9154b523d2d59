"""Steps of the auth tests: register, read the mailed token, sign in."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import httpx
import jwt
from sqlalchemy import select, text

from shop.auth.models import AuditEvent
from shop.auth.passwords import PasswordHasher
from shop.auth.upkeep import AuthUpkeep
from shop.core.config import Settings
from shop.core.mail.outbox import OutboxMail

PASSWORD = "correct horse battery staple"
# The fields of /auth/me and of the admin user listing (API.md).
USER_FIELDS = {
    "id",
    "email",
    "email_verified",
    "is_active",
    "role",
    "mfa_enabled",
    "has_password",
    "identities",
    "passkeys",
    "created_at",
    "last_login_at",
}
LINK = re.compile(r"/(verify-email|reset-password)\?token=([A-Za-z0-9_\-]+)")


def auth_upkeep(app: Any) -> AuthUpkeep:
    """auth's upkeep over the app's database, built as bootstrap builds it: tests without background
    loops drive it by hand."""
    return AuthUpkeep(app.state.database, app.state.auth)


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


async def outbox_tokens(app: Any, email: str, page: str = "verify-email") -> list[str]:
    """Tokens of the `page` links mailed to `email`, oldest first, read from the outbox. Asks for
    links waiting to be fulfilled are fulfilled first (the upkeep's work, by hand)."""
    await auth_upkeep(app).fulfil_link_requests()
    async with app.state.database.sessions() as session:
        bodies = (
            await session.scalars(
                select(OutboxMail.body)
                .where(OutboxMail.recipient == email)
                # created_at is the transaction's start in rolled-back tests: insertion order breaks ties.
                .order_by(OutboxMail.created_at, text("xmin::text::bigint"), text("ctid"))
            )
        ).all()
    return [m.group(2) for body in bodies for m in [LINK.search(body)] if m and m.group(1) == page]


async def register(client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD) -> str:
    email = email or new_email()
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "confirm_password": password}
    )
    assert response.status_code == 201, response.text
    return email


async def register_verified(client: httpx.AsyncClient, app: Any, email: str | None = None) -> str:
    email = await register(client, email)
    token = (await outbox_tokens(app, email))[-1]
    response = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text
    return email


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(pair: Mapping[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def claims(pair: Mapping[str, Any]) -> dict[str, Any]:
    """The claims of a sign-in's access token, unchecked (what a client could read in it)."""
    return dict(jwt.decode(pair["access_token"], options={"verify_signature": False}))


def mailed_token(message: EmailMessage, page: str = "verify-email") -> str:
    """The token of the `page` link in a mail received over SMTP."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = LINK.search(str(body.get_content()))  # type: ignore[attr-defined]
    assert match is not None and match.group(1) == page, body
    return match.group(2)


async def audit_events(app: Any, user_id: Any, event: str) -> list[AuditEvent]:
    """The user's audit rows of `event`, oldest first."""
    async with app.state.database.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.user_id == user_id, AuditEvent.event == event)
            .order_by(AuditEvent.id)
        )
        return list(rows.all())


async def mail_subjects(app: Any, email: str) -> list[str]:
    """The subjects of the mails to `email` in the outbox, in the order they were queued."""
    async with app.state.database.sessions() as session:
        rows = await session.scalars(
            select(OutboxMail.subject)
            .where(OutboxMail.recipient == email)
            .order_by(text("xmin::text::bigint"))
        )
        return list(rows.all())


class CountingHasher(PasswordHasher):
    """The real hasher, remembering every hash a plain check (`burn`'s) was spent on."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.checked: list[str] = []

    def check(self, password: str, hashed: str) -> bool:
        self.checked.append(hashed)
        return super().check(password, hashed)
