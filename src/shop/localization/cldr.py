"""Names and money as CLDR writes them, through Babel (never data of our own): names of languages,
currencies and countries in a language, and amounts formatted for a locale.

Babel ships the CLDR release it was built with; upgrading Babel (its pin in pyproject.toml) is how
this data is updated (docs/LOCALIZATION.md).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import phonenumbers
import pycountry
from babel import Locale, UnknownLocaleError

__all__ = ["Locale"]
from babel.numbers import format_currency, get_territory_currencies

from shop.localization.service import parse_accept_language

ENGLISH = "en"
_MAX_TAG = 35


@lru_cache(maxsize=512)
def parse_locale(tag: str) -> Locale | None:
    """The CLDR locale of a BCP 47 tag (`de`, `de-CH`, `zh-Hant-TW`, `pt_BR`), None when CLDR has
    none. Case and `_`/`-` do not matter."""
    if not tag or len(tag) > _MAX_TAG or not tag.replace("-", "").replace("_", "").isalnum():
        return None
    try:
        return Locale.parse(tag.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def negotiated_locale(accept_language: str | None) -> Locale | None:
    """The first language of an Accept-Language value that CLDR knows (q-values honoured)."""
    for preference in parse_accept_language(accept_language):
        if preference == "*":
            continue
        locale = parse_locale(preference)
        if locale is not None:
            return locale
    return None


def tag_of(locale: Locale) -> str:
    """A locale as a BCP 47 tag: `de-CH`, `zh-Hant-TW`."""
    return str(locale).replace("_", "-")


def is_english(locale: Locale | None) -> bool:
    return locale is None or locale.language == ENGLISH


def sort_key(name: str) -> str:
    """Compare names without regard to case and accents ("Österreich" beside "Oman")."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def language_name(code: str, english_name: str, locale: Locale | None) -> str:
    """A language's name in `locale`; in English (or with no locale) its stored English name."""
    if is_english(locale) or locale is None:
        return english_name
    named = locale.languages.get(code.replace("-", "_"))
    if named:
        return str(named)
    spoken = parse_locale(code)
    return str(spoken.get_display_name(locale)) if spoken is not None else english_name


def currency_name(code: str, iso_name: str, locale: Locale | None) -> str:
    """A currency's name in `locale`; in English (or with no locale) its ISO 4217 name ("Yen")."""
    if is_english(locale) or locale is None:
        return iso_name
    return str(locale.currencies.get(code) or iso_name)


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    name: str
    currency: str | None
    calling_code: str | None


def _currency_of(code: str) -> str | None:
    try:
        current = get_territory_currencies(code, tender=True)
    except Exception:  # a territory CLDR has no currency data for
        return None
    return str(current[0]) if current else None


def _calling_code(code: str) -> str | None:
    number = phonenumbers.country_code_for_region(code)
    return f"+{number}" if number else None


@lru_cache(maxsize=1)
def _country_facts() -> tuple[tuple[str, str, str | None, str | None], ...]:
    """(code, English name, currency, calling code) of every ISO 3166-1 country."""
    facts = []
    for country in pycountry.countries:
        code = str(country.alpha_2)
        english = str(Locale("en").territories.get(code) or country.name)
        facts.append((code, english, _currency_of(code), _calling_code(code)))
    return tuple(facts)


def country_name(code: str, locale: Locale | None) -> str:
    """A country's name in `locale` (English when none is asked)."""
    names = (locale or Locale(ENGLISH)).territories
    named = names.get(code)
    if named:
        return str(named)
    return next((english for known, english, _, _ in _country_facts() if known == code), code)


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    return frozenset(known for known, _, _, _ in _country_facts())


def is_country(code: str) -> bool:
    return code in _country_codes()


@lru_cache(maxsize=64)
def countries(locale: Locale | None) -> tuple[Country, ...]:
    """Every ISO 3166-1 country, named in `locale` and sorted by that name (case and accents aside)."""
    listed = [
        Country(code, country_name(code, locale), currency, calling)
        for code, _, currency, calling in _country_facts()
    ]
    return tuple(sorted(listed, key=lambda country: (sort_key(country.name), country.code)))


def format_money(amount: Decimal, currency: str, locale: Locale) -> str:
    """Exactly what Babel's `format_currency` writes for `locale`: CLDR's symbol, digits, separators
    and decimals (which may differ from ISO 4217's minor units)."""
    return str(format_currency(amount, currency, locale=locale))
