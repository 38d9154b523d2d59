"""What other contexts may use from users. Handlers here run inside the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class _Registered(Protocol):
    user_id: uuid.UUID
    accept_language: str | None


class _Deleted(Protocol):
    user_id: uuid.UUID


async def on_user_registered(session: AsyncSession, event: _Registered) -> None:
    """Create the profile of a new user (filled in by the users issue)."""


async def on_account_deleted(session: AsyncSession, event: _Deleted) -> None:
    """Erase the profile and addresses of a deleted account (filled in by the users issue)."""


async def preferred_language(session: AsyncSession, user_id: uuid.UUID) -> str:
    """The user's preferred language code, `en` when unknown."""
    return "en"
