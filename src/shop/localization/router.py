"""HTTP endpoints of the localization context: thin — guard, input, one service call, response model."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, status

from shop.core.caching import Rendered, remember_answer
from shop.core.db import SessionDep
from shop.core.errors import Forbidden, InvalidInput
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.routing import API_PREFIX
from shop.core.security import AdminUser
from shop.localization import addresses, answers, cldr, service
from shop.localization.active import ActiveCurrencies
from shop.localization.dependencies import (
    ActiveCurrenciesDep,
    BaseCurrency,
    CurrencyReaderDep,
    CurrencyServiceDep,
    LanguageReaderDep,
    LanguageServiceDep,
    RateReaderDep,
    RateServiceDep,
)
from shop.localization.errors import (
    CurrencyNotFound,
    LanguageNotFound,
    RateExists,
    RateNotFound,
    UnknownCountry,
    UnknownCurrency,
)
from shop.localization.schemas import (
    ActivationPatch,
    AddressFormatOut,
    Amount,
    ConversionOut,
    CountryOut,
    CurrencyAdminOut,
    CurrencyCode,
    CurrencyOut,
    Instant,
    LanguageAdminOut,
    LanguageOut,
    MoneyOut,
    RateIn,
    RateOut,
    RateTableOut,
    StoredRateOut,
)

router = APIRouter(
    prefix=API_PREFIX, tags=["localization"], generate_unique_id_function=operation_ids("localization")
)
# The reference data a storefront reads on every page (languages, currencies, countries, address
# forms): answers computed once and cached. A router of its own, first among the app's routes.
reference_router = APIRouter(
    prefix=API_PREFIX, tags=["localization"], generate_unique_id_function=operation_ids("localization")
)

CACHEABLE = """

Cacheable: the answer carries `Cache-Control` and a strong `ETag`; send the tag back in
`If-None-Match` to get `304 Not Modified` while the list is unchanged."""


CODE_DESCRIPTION = "ISO 4217 currency code, case-insensitive."
AT_DESCRIPTION = "ISO 8601 instant (default: now); without an offset it is read as UTC."

FromPath = Annotated[CurrencyCode, Path(alias="from", description=CODE_DESCRIPTION, examples=["EUR"])]
ToPath = Annotated[CurrencyCode, Path(description=CODE_DESCRIPTION, examples=["USD"])]
FromQuery = Annotated[CurrencyCode, Query(alias="from", description=CODE_DESCRIPTION, examples=["USD"])]
ToQuery = Annotated[CurrencyCode, Query(description=CODE_DESCRIPTION, examples=["JPY"])]
AtQuery = Annotated[Instant | None, Query(description=AT_DESCRIPTION, examples=["2026-11-20T16:00:00Z"])]
AcceptLanguage = Annotated[str | None, Header(include_in_schema=False)]
LangQuery = Annotated[
    str | None,
    Query(
        description="BCP 47 language tag of the names (`de`, `pt-BR`, `ja`); default: `Accept-Language`, "
        "else English.",
        examples=["de"],
        max_length=35,
    ),
]
# `lang` of the routes answered from memory: read from the query string by hand and documented
# here, since FastAPI's resolution of a declared parameter costs more than the rest of the answer.
LANG_PARAMETER: dict[str, Any] = {
    "name": "lang",
    "in": "query",
    "required": False,
    "description": "BCP 47 language tag of the names and labels (`de`, `pt-BR`, `ja`); default: "
    "`Accept-Language`, else English.",
    "schema": {"type": "string", "maxLength": 35, "title": "Lang"},
    "example": "de",
}
CODE_PARAMETER: dict[str, Any] = {
    "name": "code",
    "in": "path",
    "required": True,
    "description": "ISO 3166-1 alpha-2, any case.",
    "schema": {"type": "string", "title": "Code"},
    "example": "DE",
}
LocaleQuery = Annotated[
    str | None,
    Query(
        description="BCP 47 locale to write the amount for (`de-CH`, `fr-FR`, `en-IN`); default: "
        "`Accept-Language`, else `en`.",
        examples=["de-CH"],
        max_length=35,
    ),
]

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the `If-None-Match` tag still matches; no body."}
}


def _rate_out(rate: service.Rate) -> RateOut:
    return RateOut(
        from_=rate.from_code,
        to=rate.to_code,
        rate=service.format_rate(rate.rate),
        effective_date=rate.effective_date,
        source=rate.source,
    )


@reference_router.get(
    "/languages",
    response_model=list[LanguageOut],
    responses=NOT_MODIFIED,
    summary="List active languages",
    description="The languages the shop speaks, by code." + CACHEABLE,
)
async def list_languages(request: Request, languages: LanguageReaderDep, lang: LangQuery = None) -> Response:
    locale = answers.names_locale(lang, request.headers.get("accept-language"))
    items = [
        LanguageOut(
            code=row.code,
            name=cldr.language_name(row.code, row.name, locale),
            native_name=row.native_name,
        )
        for row in await languages.list_active()
    ]
    return answers.cacheable(LanguageOut, items, request.headers.get("if-none-match"))


@reference_router.get(
    "/currencies",
    response_model=list[CurrencyOut],
    responses=NOT_MODIFIED,
    summary="List active currencies",
    description="The currencies customers may use, by code, with their ISO 4217 minor units." + CACHEABLE,
)
async def list_currencies(
    request: Request, currencies: CurrencyReaderDep, lang: LangQuery = None
) -> Response:
    locale = answers.names_locale(lang, request.headers.get("accept-language"))
    items = [
        CurrencyOut(
            code=row.code,
            name=cldr.currency_name(row.code, row.name, locale),
            symbol=row.symbol,
            decimal_places=row.decimal_places,
        )
        for row in await currencies.list_active()
    ]
    return answers.cacheable(CurrencyOut, items, request.headers.get("if-none-match"))


@reference_router.get(
    "/countries",
    response_model=list[CountryOut],
    responses={**NOT_MODIFIED, **problem_responses(InvalidInput)},
    openapi_extra={"parameters": [LANG_PARAMETER]},
    summary="List countries",
    description="Every ISO 3166-1 country with its name in the language asked (`lang`, else "
    "`Accept-Language`, else English; CLDR), the currency in use there and its calling code, sorted "
    "by name without regard to case and accents." + CACHEABLE,
)
async def list_countries(request: Request) -> Response:
    # Rendered here once per query and Accept-Language, then answered before routing: the data
    # behind it (CLDR) ships with shop and never changes while it runs.
    headers = request.headers
    locale = answers.names_locale(request.query_params.get("lang"), headers.get("accept-language"))
    rendered = answers.countries_answer(locale)
    remember_answer(request, rendered)
    return rendered.answer(headers.get("if-none-match"))


@reference_router.get(
    "/countries/{code}/address-format",
    response_model=AddressFormatOut,
    responses={**NOT_MODIFIED, **problem_responses(UnknownCountry, InvalidInput)},
    openapi_extra={"parameters": [LANG_PARAMETER]},
    summary="How a country's addresses are written",
    description="What an address form for this country needs: its fields in the country's order "
    "with labels in the language asked (`lang`, else `Accept-Language`, else English), which are "
    "required, the postal code's pattern and examples, the regions to choose from (`code` is what "
    "`region` is stored as) and the fields its post writes in capitals. From the address data of "
    "Google's libaddressinput." + CACHEABLE,
)
async def get_address_format(
    code: Annotated[str, Path(description="ISO 3166-1 alpha-2, any case.", examples=["DE"], max_length=8)],
    request: Request,
) -> Response:
    # As the countries: rendered once, then answered before routing (the address data ships too).
    headers = request.headers
    country = code.upper()
    if not (len(country) == 2 and country.isascii() and country.isalpha() and cldr.is_country(country)):
        raise UnknownCountry()
    language = answers.shipped_language(request.query_params.get("lang"), headers.get("accept-language"))
    try:
        rendered = answers.address_format_answer(country, language)
    except addresses.UnknownCountryData:
        raise UnknownCountry() from None
    remember_answer(request, rendered)
    return rendered.answer(headers.get("if-none-match"))


@reference_router.get(
    "/money/format",
    response_model=MoneyOut,
    responses={**NOT_MODIFIED, **problem_responses(UnknownCurrency, InvalidInput)},
    summary="Write an amount as a locale does",
)
async def format_money(
    request: Request,
    active: ActiveCurrenciesDep,
    *,
    amount: Annotated[
        Amount,
        Query(
            description="A plain decimal >= 0 (at most 12 integer digits and 8 decimals).",
            examples=["1234.50"],
        ),
    ],
    currency: Annotated[CurrencyCode, Query(description=CODE_DESCRIPTION, examples=["CHF"])],
    locale: LocaleQuery = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    """`amount` of `currency` written as CLDR says for `locale`: exactly what Babel's `format_currency`
    writes (the locale's symbol, digits, separators and decimals — CLDR's, which for some currencies
    differ from ISO 4217's minor units).

    Cacheable: the answer carries `Cache-Control` and a strong `ETag`; send the tag back in
    `If-None-Match` to get `304 Not Modified` while the answer is unchanged."""
    used = answers.money_locale(locale, accept_language) or cldr.Locale("en")
    await _refuse_inactive(active, currency)
    body = MoneyOut(
        amount=amount,
        currency=currency,
        locale=cldr.tag_of(used),
        formatted=cldr.format_money(Decimal(amount), currency, used),
    ).model_dump_json()
    rendered = Rendered(body.encode(), cache_control=answers.CACHE_CONTROL, vary=answers.VARY)
    # Answered again before routing while the currency is known active without a new read: once
    # the codes are due again, or changed here, the request comes back here.
    remember_answer(request, rendered, lambda: active.still_offers(currency))
    return rendered.answer(request.headers.get("if-none-match"))


async def _refuse_inactive(active: ActiveCurrencies, currency: str) -> None:
    if currency not in await active.codes():
        raise UnknownCurrency("{code} is not an active currency.", values={"code": currency})


@router.get(
    "/exchange-rates",
    response_model=RateTableOut,
    responses=problem_responses(UnknownCurrency, InvalidInput),
    summary="Current rates from one currency",
)
async def list_exchange_rates(
    rates: RateReaderDep,
    pivot: BaseCurrency,
    base: Annotated[
        CurrencyCode | None,
        Query(description="ISO 4217 code (default: BASE_CURRENCY, USD).", examples=["USD"]),
    ] = None,
) -> RateTableOut:
    """For each other active currency, how much of it one unit of `base` buys now: the direct rate,
    else the inverse of the reverse rate, else a cross rate through BASE_CURRENCY. Currencies with
    no rate at all are left out; `as_of` is the latest `effective_date` among those listed (null
    when none is)."""
    table = await rates.rates_for_base(base or pivot)
    return RateTableOut(
        base=table.base,
        as_of=table.as_of,
        rates={code: service.format_rate(rate.rate) for code, rate in table.rates.items()},
    )


@router.get(
    "/exchange-rates/{from}/{to}",
    response_model=RateOut,
    responses=problem_responses(RateNotFound, UnknownCurrency, InvalidInput),
    summary="The rate of a pair at an instant",
)
async def get_exchange_rate(rates: RateReaderDep, from_: FromPath, to: ToPath, at: AtQuery = None) -> RateOut:
    """The rate in force at `at`: the one with the latest `effective_date <= at` (rates dated in the
    future are not in force yet). Without a direct rate, the inverse of the reverse rate, else a cross
    rate through BASE_CURRENCY; such a derived rate is computed at full precision, rounded half-up to
    8 decimals, and reports `source: "derived"` and the older `effective_date` of its legs. A
    currency to itself is `"1"` (`source: "identity"`, `effective_date`: the instant asked)."""
    return _rate_out(await rates.rate_at(from_, to, at))


@router.get(
    "/convert",
    response_model=ConversionOut,
    response_model_exclude_none=True,
    responses=problem_responses(RateNotFound, UnknownCurrency, InvalidInput),
    summary="Convert an amount",
)
async def convert(
    *,
    rates: RateReaderDep,
    from_: FromQuery,
    to: ToQuery,
    amount: Annotated[
        Amount,
        Query(
            description="A plain decimal >= 0 with at most 12 integer digits and 8 decimals "
            "(no sign, exponent, NaN or infinity).",
            examples=["10.50"],
        ),
    ],
    at: AtQuery = None,
    locale: LocaleQuery = None,
    accept_language: AcceptLanguage = None,
) -> ConversionOut:
    """`amount` of `from` in `to`, at the rate `/exchange-rates/{from}/{to}` reports for `at`:
    `converted_amount = amount * rate`, rounded half-up to the target currency's minor units and
    written with exactly that many decimals (`"10.50"`, `"1235"`, `"1.235"`). `amount` is echoed as
    given. With `locale` (or `Accept-Language`), `formatted_converted_amount` writes the converted
    amount as that locale does (as `/money/format`)."""
    used = answers.money_locale(locale, accept_language)
    result = await rates.convert(Decimal(amount), from_, to, at)
    return ConversionOut(
        from_=result.from_code,
        to=result.to_code,
        amount=amount,
        converted_amount=f"{result.converted_amount:f}",
        rate=service.format_rate(result.rate),
        effective_date=result.effective_date,
        formatted_converted_amount=(
            cldr.format_money(result.converted_amount, result.to_code, used) if used is not None else None
        ),
    )


@router.post(
    "/admin/exchange-rates",
    status_code=status.HTTP_201_CREATED,
    response_model=StoredRateOut,
    responses=problem_responses(Forbidden, RateExists, UnknownCurrency, InvalidInput, bearer=True),
    tags=["admin"],
    summary="Add an exchange rate",
)
async def add_exchange_rate(body: RateIn, rates: RateServiceDep, _: AdminUser) -> StoredRateOut:
    """Store `1 from = rate to` from `effective_date` on (admins only). A pair has at most one rate
    per instant: another at the same instant is `409 rate_exists`. Any currency of the reference
    data may be priced, active or not; `source` defaults to `manual` (`derived` and `identity` are
    reserved)."""
    stored = await rates.add(
        body.from_,
        body.to,
        rate=Decimal(body.rate),
        effective_date=body.effective_date,
        source=body.source,
    )
    return StoredRateOut.model_validate(service.stored_rate_fields(stored))


@router.patch(
    "/admin/currencies/{code}",
    response_model=CurrencyAdminOut,
    responses=problem_responses(Forbidden, CurrencyNotFound, InvalidInput, bearer=True),
    tags=["admin"],
    summary="Switch a currency on or off",
)
async def patch_currency(
    code: Annotated[str, Path(description=CODE_DESCRIPTION, examples=["KWD"], max_length=16)],
    body: ActivationPatch,
    currencies: CurrencyServiceDep,
    active: ActiveCurrenciesDep,
    session: SessionDep,
    _: AdminUser,
) -> CurrencyAdminOut:
    """Offer a currency to customers, or stop offering it (admins only). An inactive currency
    leaves `/currencies`, cannot be converted to or from, and is refused as a preferred currency;
    its stored rates stay."""
    currency = await currencies.set_active(code.upper(), body.is_active)
    active.changed(session)
    return CurrencyAdminOut.model_validate(currency, from_attributes=True)


@router.patch(
    "/admin/languages/{code}",
    response_model=LanguageAdminOut,
    responses=problem_responses(Forbidden, LanguageNotFound, InvalidInput, bearer=True),
    tags=["admin"],
    summary="Switch a language on or off",
)
async def patch_language(
    code: Annotated[
        str, Path(description="Language code, case-insensitive.", examples=["pt"], max_length=35)
    ],
    body: ActivationPatch,
    languages: LanguageServiceDep,
    _: AdminUser,
) -> LanguageAdminOut:
    """Offer a language to customers, or stop offering it (admins only). An inactive language
    leaves `/languages`, is no longer picked from `Accept-Language`, and is refused as a preferred
    language."""
    language = await languages.set_active(code, body.is_active)
    return LanguageAdminOut.model_validate(language, from_attributes=True)
