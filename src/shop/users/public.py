"""What other contexts may use from users. Every function runs inside the caller's transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession


async def create_profile(session: AsyncSession, user_id: uuid.UUID, accept_language: str | None) -> None:
    """Create the profile of a new user (filled in by the users issue)."""


async def erase_user_data(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Erase the profile and addresses of a deleted account (filled in by the users issue)."""


async def preferred_language(session: AsyncSession, user_id: uuid.UUID) -> str:
    """The user's preferred language code, `en` when unknown."""
    return "en"
