"""Rate resolution at the service level (no HTTP): direct, inverse, cross through the pivot, the
rate in force at an instant, and the refusals."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from shop.core.db import Database
from shop.localization.errors import RateExists, RateNotFound, UnknownCurrency
from shop.localization.service import CurrencyService, RateService
from tests.support.localization import utc
from tests.support.services import request_session

JAN, FEB, MAR = utc(2026, 1, 1), utc(2026, 2, 1), utc(2026, 3, 1)


async def add(db: Database, from_code: str, to_code: str, rate: str, at: datetime = JAN) -> None:
    async with request_session(db) as session:
        await RateService(session, pivot="USD").add(
            from_code,
            to_code,
            rate=Decimal(rate),
            effective_date=at,
            source="test",
        )


async def rate(db: Database, from_code: str, to_code: str, at: datetime | None = None) -> tuple[str, str]:
    async with request_session(db) as session:
        found = await RateService(session, pivot="USD").rate_at(from_code, to_code, at)
    return str(found.rate), found.source


async def test_direct_inverse_and_cross(db: Database) -> None:
    await add(db, "EUR", "USD", "1.085")
    await add(db, "USD", "JPY", "150.5")
    assert await rate(db, "EUR", "USD") == ("1.08500000", "test")
    # Inverse: 1 / 1.085, rounded half-up to 8 decimals.
    assert await rate(db, "USD", "EUR") == ("0.92165899", "derived")
    # Cross through USD: 1.085 * 150.5.
    assert await rate(db, "EUR", "JPY") == ("163.29250000", "derived")
    assert await rate(db, "EUR", "EUR") == ("1", "identity")


async def test_the_rate_in_force_is_the_latest_not_in_the_future(db: Database) -> None:
    await add(db, "EUR", "USD", "1.0", JAN)
    await add(db, "EUR", "USD", "2.0", MAR)
    assert (await rate(db, "EUR", "USD", FEB))[0] == "1.00000000"
    assert (await rate(db, "EUR", "USD", MAR))[0] == "2.00000000"
    with pytest.raises(RateNotFound):
        await rate(db, "EUR", "USD", utc(2025, 12, 31))


async def test_refusals(db: Database) -> None:
    await add(db, "EUR", "USD", "1.085")
    with pytest.raises(RateExists):
        await add(db, "EUR", "USD", "1.1")
    with pytest.raises(RateNotFound):
        await rate(db, "GBP", "CHF")
    async with request_session(db) as session:
        await CurrencyService(session).set_active("GBP", False)
    with pytest.raises(UnknownCurrency):
        await rate(db, "GBP", "USD")
