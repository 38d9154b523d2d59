"""Shared helpers of the localization tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shop.core.db import Database
from shop.localization.models import ExchangeRate


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


async def add_rates(app: Any, *rows: tuple[str, str, str, datetime]) -> None:
    """Store (from, to, rate, effective_date) rows inside the test's transaction (rolled back after)."""
    database: Database = app.state.database
    async with database.sessions() as session:
        for from_code, to_code, rate, effective_date in rows:
            session.add(
                ExchangeRate(
                    from_code=from_code,
                    to_code=to_code,
                    rate=Decimal(rate),
                    effective_date=effective_date,
                    source="test",
                )
            )
        await session.commit()
