"""What the webhooks context listens to: the public events of the other contexts, each turned into a
message recorded in the transaction of the change. `subscribe` is called by the bootstrap, the one
place that wires the app."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth import public as auth
from shop.core.events import EventBus
from shop.localization import public as localization
from shop.users import public as users
from shop.webhooks.service import erase_user, record


async def _user_created(session: AsyncSession, event: auth.UserRegistered) -> None:
    # However the account was made (sign-up, an admin command, another provider), auth says so
    # with this event; its facts are read in the same transaction.
    facts = await auth.account_facts(session, event.user_id)
    if facts is None:  # pragma: no cover  (published after the account's row is written)
        return
    data = {
        "user_id": str(facts.user_id),
        "email": facts.email,
        "email_verified": facts.email_verified,
        "created_at": _utc(facts.created_at),
    }
    await record(session, "user.created", data, user_id=event.user_id)


async def _email_verified(session: AsyncSession, event: auth.EmailVerified) -> None:
    data = {"user_id": str(event.user_id), "email": event.email}
    await record(session, "user.email_verified", data, user_id=event.user_id)


async def _email_changed(session: AsyncSession, event: auth.EmailChanged) -> None:
    data = {"user_id": str(event.user_id), "email": event.email}
    await record(session, "user.email_changed", data, user_id=event.user_id)


async def _deactivated(session: AsyncSession, event: auth.AccountDeactivated) -> None:
    await record(session, "user.deactivated", {"user_id": str(event.user_id)}, user_id=event.user_id)


async def _reactivated(session: AsyncSession, event: auth.AccountReactivated) -> None:
    await record(session, "user.reactivated", {"user_id": str(event.user_id)}, user_id=event.user_id)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


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
    events.subscribe(auth.UserRegistered, _user_created)
    events.subscribe(auth.EmailVerified, _email_verified)
    events.subscribe(auth.EmailChanged, _email_changed)
    events.subscribe(auth.AccountDeactivated, _deactivated)
    events.subscribe(auth.AccountReactivated, _reactivated)
    events.subscribe(users.ProfileUpdated, _profile_updated)
    events.subscribe(users.AddressCreated, _address_created)
    events.subscribe(users.AddressUpdated, _address_updated)
    events.subscribe(users.AddressDeleted, _address_deleted)
    events.subscribe(localization.ExchangeRateCreated, _exchange_rate_created)
    events.subscribe(auth.AccountDeleted, _account_deleted)
