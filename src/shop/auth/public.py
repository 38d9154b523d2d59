"""What other parts of the app may use from auth: event types and the session check for the guard."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.repository import SessionRepository


@dataclass(frozen=True, slots=True)
class UserRegistered:
    """Published inside the registration transaction. An account made by another provider also
    carries what the provider said of the person: a language tag and the names."""

    user_id: uuid.UUID
    accept_language: str | None
    locale: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True, slots=True)
class AccountDeleted:
    """Published inside the deletion transaction, before the account's rows are removed."""

    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """The account of a live session's active user (its `role` among the fields GET /me shows), or
    None when the session or user is gone, or the session is older than its maximum lifetime (a
    `shop.core.security.SessionValidator`)."""

    max_lifetime_seconds: int

    async def __call__(
        self, session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, *, hold: bool = False
    ) -> dict[str, Any] | None:
        return await SessionRepository(session).get_live_account(
            user_id, session_id, self.max_lifetime_seconds, hold=hold
        )
