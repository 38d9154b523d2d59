"""Fixtures of the users tests: signed-in users who have their profile, as after registration."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.factories import SignedIn, user_with_profile


@pytest.fixture
async def alice(app: Any) -> SignedIn:
    return await user_with_profile(app)


@pytest.fixture
async def bob(app: Any) -> SignedIn:
    return await user_with_profile(app)
