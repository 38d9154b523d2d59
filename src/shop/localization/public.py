"""What other contexts may use from localization. Every function runs inside the caller's
transaction (it takes the caller's session) and never commits."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from shop.localization.errors import RateNotFound, UnknownCurrency, UnknownLanguage
from shop.localization.events import ExchangeRateCreated
from shop.localization.service import (
    DEFAULT_CURRENCY,
    DEFAULT_LANGUAGE,
    Conversion,
    CurrencyService,
    LanguageService,
    RateService,
    match_language,
    parse_accept_language,
)

__all__ = [
    "DEFAULT_CURRENCY",
    "DEFAULT_LANGUAGE",
    "Conversion",
    "ExchangeRateCreated",
    "RateNotFound",
    "UnknownCurrency",
    "UnknownLanguage",
    "best_language",
    "convert",
    "is_active_currency",
    "is_active_language",
    "negotiate_language",
]


async def is_active_language(session: AsyncSession, code: str) -> bool:
    """Is `code` an active language? Codes are compared as stored: lowercase (`en`, `zh`)."""
    return await LanguageService(session).is_active(code)


async def is_active_currency(session: AsyncSession, code: str) -> bool:
    """Is `code` an active currency? Codes are compared as stored: ISO 4217 upper case (`USD`)."""
    return await CurrencyService(session).is_active(code)


async def best_language(session: AsyncSession, accept_language: str | None) -> str:
    """The best active language for an Accept-Language value (q-values honoured, `zh-CN` matches
    `zh`), else `en`. A malformed or missing header never raises: it yields `en`."""
    return await LanguageService(session).best_match(accept_language)


async def convert(
    session: AsyncSession,
    amount: Decimal,
    from_code: str,
    to_code: str,
    *,
    base_currency: str = DEFAULT_CURRENCY,
    at: datetime | None = None,
) -> Conversion:
    """Convert `amount` (a finite Decimal >= 0) at the rate in force at `at` (default now), crossing
    through `base_currency` when needed; `converted_amount` is rounded half-up to the target's minor
    units. Raises UnknownCurrency (unknown or inactive code), RateNotFound, or ValueError for a
    negative or non-finite amount."""
    return await RateService(session, pivot=base_currency).convert(amount, from_code, to_code, at)


def negotiate_language(accept_language: str | None, offered: set[str]) -> str:
    """The best of `offered` for an Accept-Language value (RFC 4647 lookup, q-values honoured),
    else `en`. Pure: for texts that exist in a fixed set of languages, whatever is active."""
    return match_language(parse_accept_language(accept_language), offered)
