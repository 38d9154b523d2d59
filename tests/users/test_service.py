"""The primary-address rules at the service level (no HTTP): one primary per user and per use, a
`both` address serving both uses; and the profile's language and currency checks."""

from __future__ import annotations

import uuid

import pytest

from shop.core.db import Database
from shop.localization.public import UnknownCurrency, UnknownLanguage
from shop.users.errors import AddressLimit
from shop.users.models import Address
from shop.users.schemas import AddressIn, AddressUpdate, ProfileUpdate
from shop.users.service import MAX_ADDRESSES_PER_USER, AddressService, ProfileService
from tests.support.services import request_session
from tests.support.users import address_body


def address(**overrides: object) -> AddressIn:
    return AddressIn.model_validate(address_body(**overrides))


async def primaries(db: Database, user_id: uuid.UUID) -> dict[str, set[uuid.UUID]]:
    async with request_session(db) as session:
        addresses = await AddressService(session).list_for(user_id)
    uses: dict[str, set[uuid.UUID]] = {"shipping": set(), "billing": set()}
    for item in addresses:
        if item.is_primary:
            if item.type in ("shipping", "both"):
                uses["shipping"].add(item.id)
            if item.type in ("billing", "both"):
                uses["billing"].add(item.id)
    return uses


async def create(db: Database, user_id: uuid.UUID, **overrides: object) -> Address:
    async with request_session(db) as session:
        return await AddressService(session).create(user_id, address(**overrides))


async def test_first_address_of_each_use_is_primary_and_both_yields(db: Database) -> None:
    user = uuid.uuid4()
    shipping = await create(db, user, type="shipping")
    both = await create(db, user, type="both")
    billing = await create(db, user, type="billing")
    assert (shipping.is_primary, both.is_primary, billing.is_primary) == (True, False, True)
    assert await primaries(db, user) == {"shipping": {shipping.id}, "billing": {billing.id}}


async def test_making_a_both_address_primary_takes_primary_from_both_uses(db: Database) -> None:
    user = uuid.uuid4()
    shipping = await create(db, user, type="shipping")
    billing = await create(db, user, type="billing")
    both = await create(db, user, type="both")
    async with request_session(db) as session:
        made = await AddressService(session).make_primary(user, both.id)
    assert made.is_primary
    assert await primaries(db, user) == {"shipping": {both.id}, "billing": {both.id}}
    assert shipping.id not in (await primaries(db, user))["shipping"]
    assert billing.id not in (await primaries(db, user))["billing"]


async def test_a_type_change_that_would_collide_makes_the_address_yield(db: Database) -> None:
    user = uuid.uuid4()
    shipping = await create(db, user, type="shipping")
    billing = await create(db, user, type="billing")
    async with request_session(db) as session:
        changed = await AddressService(session).update(user, billing.id, AddressUpdate(type="both"))
    assert changed.type == "both" and changed.is_primary is False
    assert await primaries(db, user) == {"shipping": {shipping.id}, "billing": set()}


async def test_deleting_a_primary_leaves_its_use_without_one(db: Database) -> None:
    user = uuid.uuid4()
    first = await create(db, user, type="shipping")
    await create(db, user, type="shipping")
    async with request_session(db) as session:
        await AddressService(session).delete(user, first.id)
    assert await primaries(db, user) == {"shipping": set(), "billing": set()}


async def test_the_address_limit(db: Database) -> None:
    user = uuid.uuid4()
    for _ in range(MAX_ADDRESSES_PER_USER):
        await create(db, user)
    with pytest.raises(AddressLimit):
        await create(db, user)


async def test_profile_refuses_inactive_language_and_currency_with_localizations_errors(
    db: Database,
) -> None:
    user = uuid.uuid4()
    async with request_session(db) as session:
        await ProfileService(session).create(user, "es-ES,es;q=0.9")
    with pytest.raises(UnknownLanguage) as language:
        async with request_session(db) as session:
            await ProfileService(session).update(user, ProfileUpdate(preferred_language="xx"))
    assert language.value.code == "unknown_language"
    with pytest.raises(UnknownCurrency):
        async with request_session(db) as session:
            await ProfileService(session).update(user, ProfileUpdate(preferred_currency="XXX"))
    async with request_session(db) as session:
        profile = await ProfileService(session).get(user)
    assert (profile.preferred_language, profile.preferred_currency) == ("es", "USD")
