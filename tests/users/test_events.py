"""The users context's public interface, and auth's events reaching it through the bus."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from shop.auth.public import AccountDeleted, UserRegistered
from shop.users import public as users_public
from tests.support.factories import SignedIn, signed_in_user, user_with_profile
from tests.support.users import PROFILE, add_address, list_addresses


async def publish(app: Any, event: object) -> None:
    async with app.state.database.sessions() as session:
        await app.state.auth.events.publish(session, event)
        await session.commit()


async def rows(app: Any, user_id: uuid.UUID) -> tuple[int, int]:
    """(profiles, addresses) the database holds for the user."""
    async with app.state.database.sessions() as session:
        profiles = await session.scalar(
            text("SELECT count(*) FROM users.profiles WHERE user_id = :uid"), {"uid": user_id}
        )
        addresses = await session.scalar(
            text("SELECT count(*) FROM users.addresses WHERE user_id = :uid"), {"uid": user_id}
        )
    return int(profiles or 0), int(addresses or 0)


async def test_user_registered_creates_the_profile(client: httpx.AsyncClient, app: Any) -> None:
    user = await signed_in_user(app)
    assert await rows(app, user.user_id) == (0, 0)
    await publish(app, UserRegistered(user.user_id, "ja-JP,ja;q=0.9,en;q=0.5"))
    assert await rows(app, user.user_id) == (1, 0)
    profile = (await client.get(PROFILE, headers=user.headers)).json()
    assert profile["preferred_language"] == "ja"
    assert profile["preferred_currency"] == "USD"


async def test_create_profile_twice_keeps_the_first(client: httpx.AsyncClient, app: Any) -> None:
    user = await user_with_profile(app, "es")
    await client.patch(PROFILE, json={"first_name": "Ada"}, headers=user.headers)
    await publish(app, UserRegistered(user.user_id, "fr"))
    profile = (await client.get(PROFILE, headers=user.headers)).json()
    assert profile["preferred_language"] == "es"
    assert profile["first_name"] == "Ada"


async def test_account_deleted_erases_profile_and_addresses(
    client: httpx.AsyncClient, app: Any, alice: SignedIn, bob: SignedIn
) -> None:
    for _ in range(3):
        await add_address(client, alice)
    await add_address(client, bob)
    assert await rows(app, alice.user_id) == (1, 3)

    await publish(app, AccountDeleted(alice.user_id))

    assert await rows(app, alice.user_id) == (0, 0)
    # Nobody else's data goes with it.
    assert await rows(app, bob.user_id) == (1, 1)
    assert len(await list_addresses(client, bob)) == 1


async def test_erase_runs_in_the_callers_transaction(
    app: Any, alice: SignedIn, client: httpx.AsyncClient
) -> None:
    await add_address(client, alice)
    async with app.state.database.sessions() as session:
        await users_public.erase_user_data(session, alice.user_id)
        await session.rollback()  # the caller's transaction fails: nothing is erased
    assert await rows(app, alice.user_id) == (1, 1)


async def test_erasing_a_user_without_data_is_harmless(app: Any) -> None:
    stranger = uuid.uuid4()
    await publish(app, AccountDeleted(stranger))
    assert await rows(app, stranger) == (0, 0)


async def test_preferred_language(client: httpx.AsyncClient, app: Any, alice: SignedIn) -> None:
    async with app.state.database.sessions() as session:
        assert await users_public.preferred_language(session, uuid.uuid4()) == "en"
        assert await users_public.preferred_language(session, alice.user_id) == "en"
    await client.patch(PROFILE, json={"preferred_language": "zh"}, headers=alice.headers)
    async with app.state.database.sessions() as session:
        assert await users_public.preferred_language(session, alice.user_id) == "zh"
