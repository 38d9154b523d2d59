"""The rules of the users context. Services take the request's session and never commit.

Primary addresses: per user and per use (shipping, billing) at most one address is primary; a `both`
address serves both uses. Every address write first takes the user's lock (see the repository), so
the rules below read and write a consistent picture even under concurrent requests.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shop.core.errors import NotFound
from shop.core.events import EventBus
from shop.localization import public as localization
from shop.users.errors import AddressLimit, AddressRefused
from shop.users.events import AddressCreated, AddressDeleted, AddressUpdated, ProfileUpdated
from shop.users.models import BILLING_TYPES, SHIPPING_TYPES, Address
from shop.users.repository import AddressRepository, AddressRow, ProfileRepository, ProfileRow
from shop.users.schemas import AddressIn, AddressOut, AddressUpdate, ProfileOut, ProfileReplace, ProfileUpdate

MAX_ADDRESSES_PER_USER = 20


def types_sharing_a_use(address_type: str) -> tuple[str, ...]:
    """The address types that serve at least one use that `address_type` serves."""
    if address_type == "shipping":
        return SHIPPING_TYPES
    if address_type == "billing":
        return BILLING_TYPES
    return tuple(dict.fromkeys(SHIPPING_TYPES + BILLING_TYPES))


class ProfileService:
    def __init__(self, session: AsyncSession, *, events: EventBus | None = None) -> None:
        """`session`: the request's (a reading route's only reads); `events`: where changes are
        announced (None: nowhere)."""
        self.session = session
        self.events = events
        self.profiles = ProfileRepository(session)

    async def create(
        self,
        user_id: uuid.UUID,
        accept_language: str | None,
        *,
        locale: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> None:
        """The profile of a new user: language from `locale` (a language tag another provider gave)
        when that language is active, else from Accept-Language (else `en`); currency USD; names as
        given, when they are fit for a single-line field."""
        language = None
        if locale and await localization.is_active_language(self.session, _primary_subtag(locale)):
            language = _primary_subtag(locale)
        language = language or await localization.best_language(self.session, accept_language)
        await self.profiles.add(
            user_id,
            preferred_language=language or localization.DEFAULT_LANGUAGE,
            first_name=_name(first_name),
            last_name=_name(last_name),
        )

    async def get(self, user_id: uuid.UUID) -> ProfileRow:
        """The user's profile; it only reads. Every account has one: the registration event makes it,
        and the migration `0008_profiles_for_every_account` made the older accounts'. One that is
        missing all the same (deleted by hand) is a 404, never made here: ADR 0007."""
        profile = await self.profiles.get(user_id)
        if profile is None:
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
                "'{code}' is not an active language; see GET /api/v1/languages.", values={"code": language}
            )
        currency = values.get("preferred_currency")
        if currency is not None and not await localization.is_active_currency(self.session, currency):
            raise localization.UnknownCurrency(
                "'{code}' is not an active currency; see GET /api/v1/currencies.", values={"code": currency}
            )
        profile = await self.get(user_id)
        if not values:
            return profile
        updated = await self.profiles.update(user_id, values)
        if updated is None:  # pragma: no cover  (only if the account is erased meanwhile)
            raise NotFound("The profile was not found.")
        if self.events is not None:
            shown = ProfileOut.model_validate(updated).model_dump(mode="json")
            await self.events.publish(self.session, ProfileUpdated(user_id, shown))
        return updated


# The members an address's country rules read: a change to one of them is checked again.
_RULED = ("address_line_1", "address_line_2", "city", "region", "postal_code", "country_code")


class AddressService:
    """`strict` checks each written address against its country's rules (through localization's
    public interface) and answers their messages in `language`; with it off only the schema's rules
    and a postal code apply. Stored addresses are never rewritten: one that fails today's rules
    stays readable, and only a change of its ruled members checks it again."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        events: EventBus | None = None,
        strict: bool = True,
        language: str = "en",
    ) -> None:
        """`events`: where changes are announced (None: nowhere)."""
        self.session = session
        self.events = events
        self.addresses = AddressRepository(session)
        self.strict = strict
        self.language = language

    async def _checked(self, values: dict[str, Any], current: Address | None = None) -> dict[str, Any]:
        """`values` with region and postal code as the country's data writes them. Raises
        AddressRefused."""
        merged = {name: values.get(name, getattr(current, name, None)) for name in _RULED}
        if not self.strict:
            if not merged["postal_code"]:
                raise AddressRefused(
                    [{"loc": ["body", "postal_code"], "msg": "Field required", "type": "missing"}]
                )
            return values
        checked = await localization.check_address_rules(
            str(merged["country_code"]),
            address_line_1=merged["address_line_1"],
            address_line_2=merged["address_line_2"],
            city=merged["city"],
            region=merged["region"],
            postal_code=merged["postal_code"],
            language=self.language,
        )
        if checked.issues:
            raise AddressRefused(
                [
                    {"loc": ["body", issue.field], "msg": issue.msg, "type": issue.type}
                    for issue in checked.issues
                ]
            )
        return {**values, "region": checked.region, "postal_code": checked.postal_code}

    async def _announce(self, event_type: type[AddressCreated | AddressUpdated], address: Address) -> None:
        if self.events is not None:
            shown = AddressOut.model_validate(address).model_dump(mode="json")
            await self.events.publish(self.session, event_type(address.user_id, shown))

    async def _announce_all(self, event_type: type[AddressUpdated], addresses: list[Address]) -> None:
        """An address that lost primary to another changed too."""
        for address in addresses:
            await self._announce(event_type, address)

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
        values = await self._checked(data.model_dump(exclude={"is_primary"}))
        sharing = types_sharing_a_use(data.type)
        if data.is_primary is True:
            await self._announce_all(AddressUpdated, await self.addresses.clear_primary(user_id, sharing))
            is_primary = True
        elif data.is_primary is False:
            is_primary = False
        else:
            # Primary by itself when none of its uses has a primary address yet.
            is_primary = not await self.addresses.has_primary(user_id, sharing)
        address = await self.addresses.add(user_id, {**values, "is_primary": is_primary})
        await self._announce(AddressCreated, address)
        return address

    async def replace(self, user_id: uuid.UUID, address_id: uuid.UUID, data: AddressIn) -> Address:
        await self.addresses.lock_user(user_id)
        current = await self.get(user_id, address_id)
        values = await self._checked(data.model_dump(exclude={"is_primary"}), current)
        return await self._apply(current, values, data.is_primary)

    async def update(self, user_id: uuid.UUID, address_id: uuid.UUID, data: AddressUpdate) -> Address:
        await self.addresses.lock_user(user_id)
        current = await self.get(user_id, address_id)
        values = data.model_dump(include=data.model_fields_set - {"is_primary"})
        if any(name in values for name in _RULED):
            values = await self._checked(values, current)
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
        if self.events is not None:
            await self.events.publish(self.session, AddressDeleted(user_id, address_id))

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
            cleared = await self.addresses.clear_primary(current.user_id, sharing, other_than=current.id)
            await self._announce_all(AddressUpdated, cleared)
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
        await self._announce(AddressUpdated, updated)
        return updated


def _primary_subtag(tag: str) -> str:
    """`de-CH` and `de_CH` → `de`."""
    return tag.replace("_", "-").split("-", 1)[0].strip().lower()


NAME_MAX = 100


def _name(value: str | None) -> str | None:
    """A name another provider gave, kept only when it is one line of printable text; cut to fit."""
    if not value:
        return None
    value = value.strip()
    if not value or any(not character.isprintable() for character in value):
        return None
    return value[:NAME_MAX]
