"""shop.localization.public: what the users context (and later catalog, orders) call."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shop.core.db import Database
from shop.localization import public
from shop.localization.models import Language
from shop.localization.repository import RateRepository
from tests.support.localization import utc


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.sessions() as session:
        yield session


async def test_is_active_language(session: AsyncSession) -> None:
    assert await public.is_active_language(session, "en")
    assert await public.is_active_language(session, "zh")
    assert not await public.is_active_language(session, "xx")
    assert not await public.is_active_language(session, "EN")  # codes as stored
    await session.execute(update(Language).where(Language.code == "zh").values(is_active=False))
    assert not await public.is_active_language(session, "zh")


async def test_is_active_currency(session: AsyncSession) -> None:
    assert await public.is_active_currency(session, "USD")
    assert await public.is_active_currency(session, "KWD")
    assert not await public.is_active_currency(session, "BGN")  # withdrawn, shipped inactive
    assert not await public.is_active_currency(session, "XYZ")
    assert not await public.is_active_currency(session, "usd")


async def test_best_language(session: AsyncSession) -> None:
    assert await public.best_language(session, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert await public.best_language(session, "ko-KR, es;q=0.3") == "es"
    assert await public.best_language(session, "ko-KR") == "en"
    assert await public.best_language(session, None) == "en"
    assert await public.best_language(session, "\x00;;q=;,") == "en"
    await session.execute(update(Language).where(Language.code == "zh").values(is_active=False))
    assert await public.best_language(session, "zh-CN,fr;q=0.5") == "fr"


async def test_convert(session: AsyncSession) -> None:
    repository = RateRepository(session)
    await repository.add("EUR", "USD", Decimal("1.085"), utc(2026, 1, 1), "test")
    await repository.add("USD", "JPY", Decimal("150.5"), utc(2026, 2, 1), "test")

    result = await public.convert(session, Decimal("10.5"), "EUR", "JPY")
    assert result == public.Conversion(
        from_code="EUR",
        to_code="JPY",
        amount=Decimal("10.5"),
        converted_amount=Decimal("1715"),  # 10.5 * 163.2925 = 1714.57…
        rate=Decimal("163.2925"),
        effective_date=utc(2026, 1, 1),
        source="derived",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.rate = Decimal(1)  # type: ignore[misc]

    early = await public.convert(session, Decimal("1"), "USD", "EUR", at=utc(2026, 1, 15))
    assert (early.converted_amount, early.rate) == (Decimal("0.92"), Decimal("0.92165899"))

    with pytest.raises(public.RateNotFound):
        await public.convert(session, Decimal("1"), "EUR", "JPY", at=utc(2026, 1, 15))
    # Through another pivot there is no path.
    with pytest.raises(public.RateNotFound):
        await public.convert(session, Decimal("1"), "EUR", "JPY", base_currency="GBP")
    with pytest.raises(public.UnknownCurrency):
        await public.convert(session, Decimal("1"), "EUR", "BGN")
    for bad in (Decimal("-1"), Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(ValueError):
            await public.convert(session, bad, "EUR", "USD")
