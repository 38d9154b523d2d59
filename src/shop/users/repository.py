"""Every query of the users context: one repository per aggregate (profile, address)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.core.db import HotRead
from shop.users.models import Address, Profile

# Every statement that returns entities refreshes them: an earlier statement of the same
# transaction (or the updated_at trigger) may have changed rows already in the identity map.
_FRESH = {"populate_existing": True}

# One lock per user, held to the end of the transaction, serialises every write to a user's
# addresses: the limit count and the primary flags are read and written without a race.
_LOCK_USER = text("SELECT pg_advisory_xact_lock(hashtextextended('users.addresses:' || :uid, 0))")


# The reads of every GET /profile and GET /addresses, on the hot path: plain rows, no entities.
_PROFILE = HotRead(select(*Profile.__table__.c).where(Profile.user_id == bindparam("uid")))
_ADDRESSES = HotRead(
    select(*Address.__table__.c)
    .where(Address.user_id == bindparam("uid"))
    .order_by(Address.is_primary.desc(), Address.created_at.desc(), Address.id.desc())
)


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """A profile as read (GET /profile's fast read, or a write's RETURNING): typed, not an entity."""

    user_id: uuid.UUID
    first_name: str | None
    last_name: str | None
    phone: str | None
    preferred_language: str
    preferred_currency: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AddressRow:
    """An address as GET /addresses reads it (the fast read): typed, not an entity."""

    id: uuid.UUID
    user_id: uuid.UUID
    type: str
    is_primary: bool
    first_name: str
    last_name: str
    company: str | None
    address_line_1: str
    address_line_2: str | None
    city: str
    region: str | None
    postal_code: str
    country_code: str
    phone: str | None
    created_at: datetime
    updated_at: datetime


class ProfileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user_id: uuid.UUID, *, preferred_language: str) -> None:
        """Insert the profile with its defaults; nothing happens when it exists already."""
        statement = (
            pg_insert(Profile)
            .values(user_id=user_id, preferred_language=preferred_language)
            .on_conflict_do_nothing(index_elements=[Profile.user_id])
        )
        await self.session.execute(statement)

    async def get(self, user_id: uuid.UUID) -> ProfileRow | None:
        row = await _PROFILE.first(self.session, {"uid": user_id})
        return ProfileRow(**row) if row is not None else None

    async def get_preferred_language(self, user_id: uuid.UUID) -> str | None:
        statement = select(Profile.preferred_language).where(Profile.user_id == user_id)
        return (await self.session.scalars(statement)).one_or_none()

    async def update(self, user_id: uuid.UUID, values: Mapping[str, Any]) -> ProfileRow | None:
        statement = (
            update(Profile)
            .where(Profile.user_id == user_id)
            .values(**values)
            .returning(*Profile.__table__.c)
            .execution_options(synchronize_session=False)
        )
        row = (await self.session.execute(statement)).mappings().one_or_none()
        return ProfileRow(**row) if row is not None else None

    async def delete(self, user_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(Profile).where(Profile.user_id == user_id).execution_options(synchronize_session=False)
        )


class AddressRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_user(self, user_id: uuid.UUID) -> None:
        """Wait for, then hold until the transaction ends, the user's address lock."""
        await self.session.execute(_LOCK_USER, {"uid": str(user_id)})

    async def list_for(self, user_id: uuid.UUID) -> list[AddressRow]:
        """The user's addresses, primary ones first, then newest first."""
        return [AddressRow(**row) for row in await _ADDRESSES.all(self.session, {"uid": user_id})]

    async def get(self, user_id: uuid.UUID, address_id: uuid.UUID) -> Address | None:
        """The address, only when it belongs to the user."""
        statement = (
            select(Address)
            .where(Address.id == address_id, Address.user_id == user_id)
            .execution_options(**_FRESH)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def count_for(self, user_id: uuid.UUID) -> int:
        statement = select(func.count()).select_from(Address).where(Address.user_id == user_id)
        return int(await self.session.scalar(statement) or 0)

    async def has_primary(
        self, user_id: uuid.UUID, types: Collection[str], *, other_than: uuid.UUID | None = None
    ) -> bool:
        """Is any of the user's addresses of one of `types` primary (other than `other_than`)?"""
        condition = select(Address.id).where(
            Address.user_id == user_id, Address.is_primary, Address.type.in_(types)
        )
        if other_than is not None:
            condition = condition.where(Address.id != other_than)
        return bool(await self.session.scalar(select(condition.exists())))

    async def clear_primary(
        self, user_id: uuid.UUID, types: Collection[str], *, other_than: uuid.UUID | None = None
    ) -> None:
        """Take primary from the user's addresses of one of `types` (other than `other_than`)."""
        statement = update(Address).where(
            Address.user_id == user_id, Address.is_primary, Address.type.in_(types)
        )
        if other_than is not None:
            statement = statement.where(Address.id != other_than)
        await self.session.execute(
            statement.values(is_primary=False).execution_options(synchronize_session=False)
        )

    async def add(self, user_id: uuid.UUID, values: Mapping[str, Any]) -> Address:
        statement = (
            insert(Address).values(user_id=user_id, **values).returning(Address).execution_options(**_FRESH)
        )
        return (await self.session.scalars(statement)).one()

    async def update(
        self, user_id: uuid.UUID, address_id: uuid.UUID, values: Mapping[str, Any]
    ) -> Address | None:
        statement = (
            update(Address)
            .where(Address.id == address_id, Address.user_id == user_id)
            .values(**values)
            .returning(Address)
            .execution_options(synchronize_session=False, **_FRESH)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def delete(self, user_id: uuid.UUID, address_id: uuid.UUID) -> bool:
        """Delete the address when it belongs to the user; tell whether it did."""
        statement = (
            delete(Address)
            .where(Address.id == address_id, Address.user_id == user_id)
            .returning(Address.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.scalars(statement)).one_or_none() is not None

    async def delete_all_for(self, user_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(Address).where(Address.user_id == user_id).execution_options(synchronize_session=False)
        )
