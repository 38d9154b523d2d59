"""What other contexts may use from users. Every function runs inside the caller's transaction and
never commits."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from shop.users.events import AddressCreated, AddressDeleted, AddressUpdated, ProfileUpdated
from shop.users.service import AddressService, ProfileService

__all__ = [
    "AddressCreated",
    "AddressDeleted",
    "AddressUpdated",
    "ProfileUpdated",
    "create_profile",
    "erase_user_data",
    "preferred_language",
]


async def create_profile(session: AsyncSession, user_id: uuid.UUID, accept_language: str | None) -> None:
    """Create the profile of a new user with its defaults: `preferred_language` the best active match
    of `accept_language` (else `en`), `preferred_currency` USD. Does nothing when it exists."""
    await ProfileService(session).create(user_id, accept_language)


async def erase_user_data(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Erase the profile and every address of a deleted account."""
    await AddressService(session).erase(user_id)
    await ProfileService(session).erase(user_id)


async def preferred_language(session: AsyncSession, user_id: uuid.UUID) -> str:
    """The user's preferred language code, `en` when the user has no profile."""
    return await ProfileService(session).preferred_language(user_id)
