"""Fixtures of the users tests: signed-in users who have their profile, as after registration."""

from __future__ import annotations

from typing import Any

import pytest

from shop.users import public as users_public
from tests.factories import SignedIn, signed_in_user


async def user_with_profile(app: Any, accept_language: str | None = None) -> SignedIn:
    user = await signed_in_user(app)
    async with app.state.database.sessions() as session:
        await users_public.create_profile(session, user.user_id, accept_language)
        await session.commit()
    return user


@pytest.fixture
async def alice(app: Any) -> SignedIn:
    return await user_with_profile(app)


@pytest.fixture
async def bob(app: Any) -> SignedIn:
    return await user_with_profile(app)
