"""What other contexts may use from users. Every function runs inside the caller's transaction and
never commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shop.users.events import AddressCreated, AddressDeleted, AddressUpdated, ProfileUpdated
from shop.users.repository import ProfileRepository
from shop.users.schemas import AddressOut, ProfileOut
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


@dataclass(frozen=True, slots=True)
class PersonalData:
    """What the users context holds about one account, as JSON-ready values (a personal-data
    export): the profile (None when there is none) and every address, each as the API shows it."""

    profile: dict[str, Any] | None
    addresses: list[dict[str, Any]]


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


async def personal_data(session: AsyncSession, user_id: uuid.UUID) -> PersonalData:
    """The profile and addresses of the user, for a personal-data export. Only reads."""
    profile = await ProfileRepository(session).get(user_id)
    addresses = await AddressService(session).list_for(user_id)
    return PersonalData(
        profile=ProfileOut.model_validate(profile).model_dump(mode="json") if profile is not None else None,
        addresses=[AddressOut.model_validate(address).model_dump(mode="json") for address in addresses],
    )
