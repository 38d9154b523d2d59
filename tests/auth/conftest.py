"""Fixtures of the auth tests (helpers live in helpers.py and authenticator.py)."""

from __future__ import annotations

import pytest

from shop.auth import mfa
from tests.auth.authenticator import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The time TOTP codes are checked at, moved by the test (starts at the real time)."""
    fake = Clock()
    monkeypatch.setattr(mfa, "now", fake)
    return fake
