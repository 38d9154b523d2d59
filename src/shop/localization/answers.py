"""The answers of localization's reference routes, rendered once: JSON bytes with a strong ETag
(`shop.core.caching.Rendered`), and the languages they are given in."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from fastapi import Response
from pydantic import BaseModel, TypeAdapter

from shop.core.caching import Rendered
from shop.core.errors import InvalidInput
from shop.localization import addresses, cldr, service
from shop.localization.catalogs import SHIPPED_LANGUAGES
from shop.localization.schemas import (
    AddressFieldOut,
    AddressFormatOut,
    CountryOut,
    CurrencyOut,
    LanguageOut,
    PostalCodeOut,
    RegionOut,
)

CACHE_CONTROL = "public, max-age=300"

# Built once: a TypeAdapter is costly to make.
LISTS: dict[type[BaseModel], TypeAdapter[Any]] = {
    LanguageOut: TypeAdapter(list[LanguageOut]),
    CurrencyOut: TypeAdapter(list[CurrencyOut]),
    CountryOut: TypeAdapter(list[CountryOut]),
}
# Names depend on the language asked, which may come from Accept-Language: caches must key on it.
VARY = "Accept-Language"


def cacheable(model: type[BaseModel], items: Sequence[object], if_none_match: str | None) -> Response:
    """The list as JSON with a strong ETag, or 304 when the client's tag still matches."""
    body = LISTS[model].dump_json([model.model_validate(item) for item in items])
    return Rendered(body, cache_control=CACHE_CONTROL, vary=VARY).answer(if_none_match)


def names_locale(lang: str | None, accept_language: str | None) -> cldr.Locale | None:
    """The CLDR locale names are given in: `lang`, else Accept-Language, else none (English)."""
    if lang is not None:
        locale = cldr.parse_locale(lang)
        if locale is None:
            raise InvalidInput(
                ["query", "lang"], "must be a BCP 47 language tag CLDR knows, like de or pt-BR"
            )
        return locale
    return cldr.negotiated_locale(accept_language)


def shipped_language(lang: str | None, accept_language: str | None) -> str:
    """The shipped language of labels and messages: `lang`, else Accept-Language, else English."""
    return service.match_language(
        service.parse_accept_language(lang or accept_language), set(SHIPPED_LANGUAGES)
    )


@lru_cache(maxsize=128)
def countries_answer(locale: cldr.Locale | None) -> Rendered:
    body = LISTS[CountryOut].dump_json(
        [
            CountryOut(code=c.code, name=c.name, currency=c.currency, calling_code=c.calling_code)
            for c in cldr.countries(locale)
        ]
    )
    return Rendered(body, cache_control=CACHE_CONTROL, vary=VARY)


@lru_cache(maxsize=2048)
def address_format_answer(country_code: str, language: str) -> Rendered:
    found = addresses.address_format(country_code, language)
    body = (
        AddressFormatOut(
            country_code=found.country_code,
            fields=[AddressFieldOut(name=f.name, label=f.label, required=f.required) for f in found.fields],
            postal_code=PostalCodeOut(
                pattern=found.postal_code_pattern, examples=list(found.postal_code_examples)
            ),
            regions=[RegionOut(code=r.code, name=r.name) for r in found.regions],
            uppercase=list(found.uppercase),
        )
        .model_dump_json()
        .encode()
    )
    return Rendered(body, cache_control=CACHE_CONTROL, vary=VARY)


def money_locale(locale: str | None, accept_language: str | None) -> cldr.Locale | None:
    if locale is not None:
        found = cldr.parse_locale(locale)
        if found is None:
            raise InvalidInput(["query", "locale"], "must be a BCP 47 locale CLDR knows, like de-CH or fr-FR")
        return found
    return cldr.negotiated_locale(accept_language)
