"""What the webhooks context listens to: the public events of the other contexts, each turned into a
message recorded in the transaction of the change. `subscribe` is called by the bootstrap, the one
place that wires the app."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth import public as auth
from shop.core.events import EventBus
from shop.localization import public as localization
from shop.users import public as users
from shop.webhooks.service import erase_user, record


async def _profile_updated(session: AsyncSession, event: users.ProfileUpdated) -> None:
    await record(session, "profile.updated", event.profile, user_id=event.user_id)


async def _address_created(session: AsyncSession, event: users.AddressCreated) -> None:
    await record(session, "address.created", event.address, user_id=event.user_id)


async def _address_updated(session: AsyncSession, event: users.AddressUpdated) -> None:
    await record(session, "address.updated", event.address, user_id=event.user_id)


async def _address_deleted(session: AsyncSession, event: users.AddressDeleted) -> None:
    data = {"user_id": str(event.user_id), "address_id": str(event.address_id)}
    await record(session, "address.deleted", data, user_id=event.user_id)


async def _exchange_rate_created(session: AsyncSession, event: localization.ExchangeRateCreated) -> None:
    await record(session, "exchange_rate.created", event.rate)


async def _account_deleted(session: AsyncSession, event: auth.AccountDeleted) -> None:
    # Erasure first: every message naming the user goes, and only the news of the deletion stays.
    await erase_user(session, event.user_id)
    await record(session, "user.deleted", {"user_id": str(event.user_id)}, user_id=event.user_id)


def subscribe(events: EventBus) -> None:
    events.subscribe(users.ProfileUpdated, _profile_updated)
    events.subscribe(users.AddressCreated, _address_created)
    events.subscribe(users.AddressUpdated, _address_updated)
    events.subscribe(users.AddressDeleted, _address_deleted)
    events.subscribe(localization.ExchangeRateCreated, _exchange_rate_created)
    events.subscribe(auth.AccountDeleted, _account_deleted)
