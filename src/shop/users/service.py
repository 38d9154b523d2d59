"""The rules of the users context. Services take the request's session and never commit.

Primary addresses: per user and per use (shipping, billing) at most one address is primary; a `both`
address serves both uses. Every address write first takes the user's lock (see the repository), so
the rules below read and write a consistent picture even under concurrent requests.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shop.core.db import Database
from shop.core.errors import NotFound
from shop.localization import public as localization
from shop.users.errors import AddressLimit
from shop.users.models import BILLING_TYPES, SHIPPING_TYPES, Address
from shop.users.repository import AddressRepository, AddressRow, ProfileRepository, ProfileRow
from shop.users.schemas import AddressIn, AddressUpdate, ProfileReplace, ProfileUpdate

MAX_ADDRESSES_PER_USER = 20


def types_sharing_a_use(address_type: str) -> tuple[str, ...]:
    """The address types that serve at least one use that `address_type` serves."""
    if address_type == "shipping":
        return SHIPPING_TYPES
    if address_type == "billing":
        return BILLING_TYPES
    return tuple(dict.fromkeys(SHIPPING_TYPES + BILLING_TYPES))


class ProfileService:
    def __init__(
        self, session: AsyncSession, *, accept_language: str | None = None, database: Database | None = None
    ) -> None:
        """`accept_language`: the caller's header, for a profile that has to be created now;
        `database`, for a reading request: that creation then commits on its own, as the request's
        session cannot write."""
        self.session = session
        self.profiles = ProfileRepository(session)
        self.accept_language = accept_language
        self.database = database

    async def create(self, user_id: uuid.UUID, accept_language: str | None) -> None:
        """The profile of a new user: language from Accept-Language (else `en`), currency USD."""
        language = await localization.best_language(self.session, accept_language)
        await self.profiles.add(user_id, preferred_language=language or localization.DEFAULT_LANGUAGE)

    async def get(self, user_id: uuid.UUID) -> ProfileRow:
        profile = await self.profiles.get(user_id)
        if profile is None:
            # Every user has a profile: the registration event makes it, and the migration
            # `0008_profiles_for_every_account` made the older accounts' ones. An account that still
            # has none (made by a path that skipped the event) gets its defaults now, in a
            # transaction of its own: GET's session only reads. Creating is idempotent.
            if self.database is None:
                await self.create(user_id, self.accept_language)
            else:
                async with self.database.unit_of_work() as session:
                    await ProfileService(session).create(user_id, self.accept_language)
            profile = await self.profiles.get(user_id)
        if profile is None:  # pragma: no cover  (only if the account is erased meanwhile)
            raise NotFound("The profile was not found.")
        return profile

    async def replace(self, user_id: uuid.UUID, data: ProfileReplace) -> ProfileRow:
        return await self._write(user_id, data.model_dump())

    async def update(self, user_id: uuid.UUID, data: ProfileUpdate) -> ProfileRow:
        return await self._write(user_id, data.model_dump(include=data.model_fields_set))

    async def preferred_language(self, user_id: uuid.UUID) -> str:
        return await self.profiles.get_preferred_language(user_id) or localization.DEFAULT_LANGUAGE

    async def erase(self, user_id: uuid.UUID) -> None:
        await self.profiles.delete(user_id)

    async def _write(self, user_id: uuid.UUID, values: dict[str, Any]) -> ProfileRow:
        language = values.get("preferred_language")
        if language is not None and not await localization.is_active_language(self.session, language):
            raise localization.UnknownLanguage(
                f"{language!r} is not an active language; see GET /api/v1/languages."
            )
        currency = values.get("preferred_currency")
        if currency is not None and not await localization.is_active_currency(self.session, currency):
            raise localization.UnknownCurrency(
                f"{currency!r} is not an active currency; see GET /api/v1/currencies."
            )
        profile = await self.get(user_id)
        if not values:
            return profile
        updated = await self.profiles.update(user_id, values)
        if updated is None:  # pragma: no cover  (only if the account is erased meanwhile)
            raise NotFound("The profile was not found.")
        return updated


class AddressService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.addresses = AddressRepository(session)

    async def list_for(self, user_id: uuid.UUID) -> list[AddressRow]:
        return await self.addresses.list_for(user_id)

    async def get(self, user_id: uuid.UUID, address_id: uuid.UUID) -> Address:
        """The user's address; someone else's is as unknown as a missing one."""
        address = await self.addresses.get(user_id, address_id)
        if address is None:
            raise NotFound("The address was not found.")
        return address

    async def create(self, user_id: uuid.UUID, data: AddressIn) -> Address:
        await self.addresses.lock_user(user_id)
        if await self.addresses.count_for(user_id) >= MAX_ADDRESSES_PER_USER:
            raise AddressLimit(MAX_ADDRESSES_PER_USER)
        values = data.model_dump(exclude={"is_primary"})
        sharing = types_sharing_a_use(data.type)
        if data.is_primary is True:
            await self.addresses.clear_primary(user_id, sharing)
            is_primary = True
        elif data.is_primary is False:
            is_primary = False
        else:
            # Primary by itself when none of its uses has a primary address yet.
            is_primary = not await self.addresses.has_primary(user_id, sharing)
        return await self.addresses.add(user_id, {**values, "is_primary": is_primary})

    async def replace(self, user_id: uuid.UUID, address_id: uuid.UUID, data: AddressIn) -> Address:
        await self.addresses.lock_user(user_id)
        current = await self.get(user_id, address_id)
        return await self._apply(current, data.model_dump(exclude={"is_primary"}), data.is_primary)

    async def update(self, user_id: uuid.UUID, address_id: uuid.UUID, data: AddressUpdate) -> Address:
        await self.addresses.lock_user(user_id)
        current = await self.get(user_id, address_id)
        values = data.model_dump(include=data.model_fields_set - {"is_primary"})
        return await self._apply(current, values, data.is_primary)

    async def make_primary(self, user_id: uuid.UUID, address_id: uuid.UUID) -> Address:
        await self.addresses.lock_user(user_id)
        current = await self.get(user_id, address_id)
        return await self._apply(current, {}, True)

    async def delete(self, user_id: uuid.UUID, address_id: uuid.UUID) -> None:
        """Delete the address. When it was primary, its uses have no primary address afterwards."""
        await self.addresses.lock_user(user_id)
        if not await self.addresses.delete(user_id, address_id):
            raise NotFound("The address was not found.")

    async def erase(self, user_id: uuid.UUID) -> None:
        await self.addresses.lock_user(user_id)
        await self.addresses.delete_all_for(user_id)

    async def _apply(self, current: Address, values: dict[str, Any], is_primary: bool | None) -> Address:
        """Write `values` to `current`, keeping one primary per use.

        `is_primary` True takes primary from the user's other addresses sharing a use with the
        (possibly new) type; False clears the flag; None keeps it — unless the type changes so that
        it would collide with another primary address, and then this address yields.
        """
        new_type = values.get("type", current.type)
        sharing = types_sharing_a_use(new_type)
        if is_primary is True:
            await self.addresses.clear_primary(current.user_id, sharing, other_than=current.id)
            values["is_primary"] = True
        elif is_primary is False or (
            current.is_primary
            and new_type != current.type
            and await self.addresses.has_primary(current.user_id, sharing, other_than=current.id)
        ):
            values["is_primary"] = False
        if not values:
            return current
        updated = await self.addresses.update(current.user_id, current.id, values)
        if updated is None:  # pragma: no cover  (the row is locked by the user's lock and was just read)
            raise NotFound("The address was not found.")
        return updated
