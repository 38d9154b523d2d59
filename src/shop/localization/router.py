"""HTTP endpoints of the localization context: thin — guard, input, one service call, response model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response, status
from pydantic import BaseModel, TypeAdapter

from shop.core.errors import Forbidden, InvalidInput
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.security import AdminUser
from shop.localization import service
from shop.localization.dependencies import (
    BaseCurrency,
    CurrencyServiceDep,
    LanguageServiceDep,
    RateServiceDep,
)
from shop.localization.errors import (
    CurrencyNotFound,
    LanguageNotFound,
    RateExists,
    RateNotFound,
    UnknownCurrency,
)
from shop.localization.schemas import (
    ActivationPatch,
    Amount,
    ConversionOut,
    CurrencyAdminOut,
    CurrencyCode,
    CurrencyOut,
    Instant,
    LanguageAdminOut,
    LanguageOut,
    RateIn,
    RateOut,
    RateTableOut,
    StoredRateOut,
)

router = APIRouter(tags=["localization"], generate_unique_id_function=operation_ids("localization"))

CACHE_CONTROL = "public, max-age=300"
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
IfNoneMatch = Annotated[str | None, Header(include_in_schema=False)]

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the `If-None-Match` tag still matches; no body."}
}


# Built once: a TypeAdapter is costly to make.
_LISTS: dict[type[BaseModel], TypeAdapter[Any]] = {
    LanguageOut: TypeAdapter(list[LanguageOut]),
    CurrencyOut: TypeAdapter(list[CurrencyOut]),
}


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison, as RFC 9110 asks of If-None-Match."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def _cacheable(model: type[BaseModel], items: Sequence[object], if_none_match: str | None) -> Response:
    """The list as JSON with a strong ETag, or 304 when the client's tag still matches."""
    body = _LISTS[model].dump_json([model.model_validate(item) for item in items])
    headers = {"ETag": _etag(body), "Cache-Control": CACHE_CONTROL}
    if _matches(if_none_match, headers["ETag"]):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


def _rate_out(rate: service.Rate) -> RateOut:
    return RateOut(
        from_=rate.from_code,
        to=rate.to_code,
        rate=service.format_rate(rate.rate),
        effective_date=rate.effective_date,
        source=rate.source,
    )


@router.get(
    "/languages",
    response_model=list[LanguageOut],
    responses=NOT_MODIFIED,
    summary="List active languages",
    description="The languages the shop speaks, by code." + CACHEABLE,
)
async def list_languages(languages: LanguageServiceDep, if_none_match: IfNoneMatch = None) -> Response:
    return _cacheable(LanguageOut, await languages.list_active(), if_none_match)


@router.get(
    "/currencies",
    response_model=list[CurrencyOut],
    responses=NOT_MODIFIED,
    summary="List active currencies",
    description="The currencies customers may use, by code, with their ISO 4217 minor units." + CACHEABLE,
)
async def list_currencies(currencies: CurrencyServiceDep, if_none_match: IfNoneMatch = None) -> Response:
    return _cacheable(CurrencyOut, await currencies.list_active(), if_none_match)


@router.get(
    "/exchange-rates",
    response_model=RateTableOut,
    responses=problem_responses(UnknownCurrency, InvalidInput),
    summary="Current rates from one currency",
)
async def list_exchange_rates(
    rates: RateServiceDep,
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
async def get_exchange_rate(
    rates: RateServiceDep, from_: FromPath, to: ToPath, at: AtQuery = None
) -> RateOut:
    """The rate in force at `at`: the one with the latest `effective_date <= at` (rates dated in the
    future are not in force yet). Without a direct rate, the inverse of the reverse rate, else a cross
    rate through BASE_CURRENCY; such a derived rate is computed at full precision, rounded half-up to
    8 decimals, and reports `source: "derived"` and the older `effective_date` of its legs. A
    currency to itself is `"1"` (`source: "identity"`, `effective_date`: the instant asked)."""
    return _rate_out(await rates.rate_at(from_, to, at))


@router.get(
    "/convert",
    response_model=ConversionOut,
    responses=problem_responses(RateNotFound, UnknownCurrency, InvalidInput),
    summary="Convert an amount",
)
async def convert(
    *,
    rates: RateServiceDep,
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
) -> ConversionOut:
    """`amount` of `from` in `to`, at the rate `/exchange-rates/{from}/{to}` reports for `at`:
    `converted_amount = amount * rate`, rounded half-up to the target currency's minor units and
    written with exactly that many decimals (`"10.50"`, `"1235"`, `"1.235"`). `amount` is echoed as
    given."""
    result = await rates.convert(Decimal(amount), from_, to, at)
    return ConversionOut(
        from_=result.from_code,
        to=result.to_code,
        amount=amount,
        converted_amount=f"{result.converted_amount:f}",
        rate=service.format_rate(result.rate),
        effective_date=result.effective_date,
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
    _: AdminUser,
) -> CurrencyAdminOut:
    """Offer a currency to customers, or stop offering it (admins only). An inactive currency
    leaves `/currencies`, cannot be converted to or from, and is refused as a preferred currency;
    its stored rates stay."""
    currency = await currencies.set_active(code.upper(), body.is_active)
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
