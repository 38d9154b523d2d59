"""What other contexts may use from users. Every function runs inside the caller's transaction and
never commits."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from shop.users.service import AddressService, ProfileService


async def create_profile(
    session: AsyncSession,
    user_id: uuid.UUID,
    accept_language: str | None,
    *,
    locale: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> None:
    """Create the profile of a new user with its defaults: `preferred_language` the language of
    `locale` when it is active, else the best active match of `accept_language` (else `en`),
    `preferred_currency` USD; the names when given. Does nothing when it exists."""
    await ProfileService(session).create(
        user_id, accept_language, locale=locale, first_name=first_name, last_name=last_name
    )


async def erase_user_data(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Erase the profile and every address of a deleted account."""
    await AddressService(session).erase(user_id)
    await ProfileService(session).erase(user_id)


async def preferred_language(session: AsyncSession, user_id: uuid.UUID) -> str:
    """The user's preferred language code, `en` when the user has no profile."""
    return await ProfileService(session).preferred_language(user_id)
