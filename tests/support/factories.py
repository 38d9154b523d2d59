"""Test data made through the real tables, for tests of other contexts that need a signed-in user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shop.auth.models import Session, User
from shop.auth.tools import AuthTools
from shop.core.db import Database
from shop.users import public as users_public


@dataclass(frozen=True)
class SignedIn:
    user_id: uuid.UUID
    session_id: uuid.UUID
    email: str
    headers: dict[str, str]


async def signed_in_user(app: Any, *, role: str = "customer", email: str | None = None) -> SignedIn:
    """A verified, active user with one live session and a valid access token.

    Publishes nothing: tests that need the users context's profile should register through the API.
    """
    database: Database = app.state.database
    tools: AuthTools = app.state.auth
    email = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
    async with database.sessions() as session:
        user = User(email=email, password_hash="!unusable", email_verified=True, role=role)
        session.add(user)
        await session.flush()
        login = Session(user_id=user.id, expires_at=datetime.now(UTC) + timedelta(days=30))
        session.add(login)
        await session.flush()
        user_id, session_id = user.id, login.id
        await session.commit()
    async with database.sessions() as session:
        token = (await tools.tokens.issue(session, user_id, session_id)).token
    return SignedIn(user_id, session_id, email, {"Authorization": f"Bearer {token}"})


async def user_with_profile(app: Any, accept_language: str | None = None) -> SignedIn:
    """A signed-in user who has the profile registration gives."""
    user = await signed_in_user(app)
    async with app.state.database.sessions() as session:
        await users_public.create_profile(session, user.user_id, accept_language)
        await session.commit()
    return user
