"""Request and response bodies of the localization context, and the rules of its query values.

Money and rates travel as JSON strings holding plain decimals, never floats.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from shop.core.validation import RequestModel
from shop.localization.models import RATE_PRECISION, RATE_SCALE

MAX_INTEGER_DIGITS = RATE_PRECISION - RATE_SCALE  # 12
MAX_DECIMALS = RATE_SCALE  # 8
_PLAIN_DECIMAL = re.compile(r"^([0-9]+)(?:\.([0-9]+))?$")
_MAX_DECIMAL_TEXT = 64  # long enough for leading zeros, short enough to bound the work
_MAX_INSTANT_TEXT = 64
RESERVED_SOURCES = frozenset({"derived", "identity"})


def plain_decimal(value: str, *, positive: bool) -> str:
    """`value` when it is a plain decimal that fits DECIMAL(20,8) (and is > 0 if `positive`)."""
    match = _PLAIN_DECIMAL.fullmatch(value) if len(value) <= _MAX_DECIMAL_TEXT else None
    if match is None:
        raise ValueError("must be a plain decimal such as 10.50 (no sign, exponent, NaN or infinity)")
    integer, decimals = match.group(1), match.group(2) or ""
    if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"must have at most {MAX_INTEGER_DIGITS} integer digits")
    if len(decimals) > MAX_DECIMALS:
        raise ValueError(f"must have at most {MAX_DECIMALS} decimals")
    if positive and not (integer + decimals).strip("0"):
        raise ValueError("must be greater than 0")
    return value


def _amount(value: str) -> str:
    return plain_decimal(value, positive=False)


def _rate(value: str) -> str:
    return plain_decimal(value, positive=True)


def parse_instant(value: object) -> datetime:
    """ISO 8601 only (no Unix timestamps), as an aware UTC datetime; no offset means UTC."""
    if isinstance(value, datetime):
        instant = value
    elif isinstance(value, str) and value.isascii() and len(value) <= _MAX_INSTANT_TEXT:
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO 8601 date-time such as 2026-01-31T15:00:00Z") from None
    else:
        raise ValueError("must be an ISO 8601 date-time string such as 2026-01-31T15:00:00Z")
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


def _no_reserved_source(value: str) -> str:
    if value.lower() in RESERVED_SOURCES:
        raise ValueError(f"'{value}' is reserved for rates the service computes")
    return value


# The rules of `plain_decimal` as patterns, for the schema alone (the validator gives the clearer
# message): leading zeros, then at most 12 integer digits and at most 8 decimals; a rate has a
# digit other than 0 in its integer part or in its decimals.
AMOUNT_PATTERN = rf"^0*[0-9]{{1,{MAX_INTEGER_DIGITS}}}(?:\.[0-9]{{1,{MAX_DECIMALS}}})?$"
_NONZERO_DECIMALS = "|".join(
    f"0{{{zeros}}}[1-9][0-9]{{0,{MAX_DECIMALS - 1 - zeros}}}" for zeros in range(MAX_DECIMALS)
)
RATE_PATTERN = (
    rf"^(?:0*[1-9][0-9]{{0,{MAX_INTEGER_DIGITS - 1}}}(?:\.[0-9]{{1,{MAX_DECIMALS}}})?"
    rf"|0+\.(?:{_NONZERO_DECIMALS}))$"
)
_DECIMAL_TEXT = StringConstraints(pattern=_PLAIN_DECIMAL.pattern, max_length=_MAX_DECIMAL_TEXT)
Amount = Annotated[
    str, _DECIMAL_TEXT, AfterValidator(_amount), Field(json_schema_extra={"pattern": AMOUNT_PATTERN})
]
RateText = Annotated[
    str, _DECIMAL_TEXT, AfterValidator(_rate), Field(json_schema_extra={"pattern": RATE_PATTERN})
]
Instant = Annotated[datetime, BeforeValidator(parse_instant)]
CurrencyCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{3}$"), AfterValidator(lambda code: code.upper())
]
Source = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$"),
    AfterValidator(_no_reserved_source),
]


class LanguageOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{"code": "es", "name": "Spanish", "native_name": "Español"}]},
    )

    code: str = Field(description="BCP 47 language tag, lower case.")
    name: str = Field(
        description="Name in the language asked (`lang`, else Accept-Language; CLDR); English by default."
    )
    native_name: str = Field(description="The language's name for itself.")


class LanguageAdminOut(LanguageOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "es", "name": "Spanish", "native_name": "Español", "is_active": True}]
        }
    )

    is_active: bool


class CurrencyOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{"code": "JPY", "name": "Yen", "symbol": "¥", "decimal_places": 0}]},
    )

    code: str = Field(description="ISO 4217 code.")
    name: str = Field(description="Name in the language asked (CLDR); in English its ISO 4217 name.")
    symbol: str
    decimal_places: int = Field(
        description="ISO 4217 minor units: converted amounts have this many decimals."
    )


class CurrencyAdminOut(CurrencyOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"code": "JPY", "name": "Yen", "symbol": "¥", "decimal_places": 0, "is_active": True}
            ]
        }
    )

    is_active: bool


class ActivationPatch(RequestModel):
    """Switch a language or currency on or off for customers."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"is_active": False}]})

    is_active: StrictBool


class RateTableOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "base": "USD",
                    "as_of": "2026-11-20T15:00:00Z",
                    "rates": {"EUR": "0.92165899", "JPY": "150.5", "GBP": "0.79"},
                }
            ]
        }
    )

    base: str
    as_of: datetime | None = Field(
        description="The latest effective_date among the rates listed; null when none is listed."
    )
    rates: dict[str, str] = Field(description="Currency code → how much of it one unit of `base` buys.")


class RateOut(BaseModel):
    model_config = ConfigDict(
        validate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "from": "EUR",
                    "to": "USD",
                    "rate": "1.0852",
                    "effective_date": "2026-11-20T15:00:00Z",
                    "source": "ECB",
                }
            ]
        },
    )

    from_: str = Field(alias="from")
    to: str
    rate: str = Field(description="1 `from` = `rate` `to`; a derived rate is rounded half-up to 8 decimals.")
    effective_date: datetime = Field(
        description="When the rate took effect; for a derived rate, the older of its legs'."
    )
    source: str = Field(
        description="Where the rate comes from (`ECB`, `manual`, …); `derived` for an inverse or cross "
        "rate, `identity` for a currency to itself."
    )


class StoredRateOut(RateOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b8c6f6e-3f0c-4a8e-9a53-6f7e1f2d9c10",
                    "from": "EUR",
                    "to": "USD",
                    "rate": "1.0852",
                    "effective_date": "2026-11-20T15:00:00Z",
                    "source": "manual",
                    "created_at": "2026-11-20T15:01:12Z",
                }
            ]
        }
    )

    id: str
    created_at: datetime


class ConversionOut(BaseModel):
    model_config = ConfigDict(
        validate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "from": "USD",
                    "to": "JPY",
                    "amount": "10.50",
                    "converted_amount": "1580",
                    "rate": "150.5",
                    "effective_date": "2026-11-20T15:00:00Z",
                }
            ]
        },
    )

    from_: str = Field(alias="from")
    to: str
    amount: str = Field(description="The amount, exactly as given.")
    converted_amount: str = Field(
        description="amount × rate, rounded half-up to the target currency's minor units and written "
        "with exactly that many decimals."
    )
    rate: str
    effective_date: datetime
    formatted_converted_amount: str | None = Field(
        default=None,
        description="`converted_amount` as the locale writes it (CLDR); only when `locale` or "
        "`Accept-Language` is given.",
    )


class RateIn(RequestModel):
    """A rate: 1 `from` = `rate` `to` from `effective_date` on."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"from": "EUR", "to": "USD", "rate": "1.0852", "effective_date": "2026-11-20T15:00:00Z"}
            ]
        },
    )

    from_: CurrencyCode = Field(alias="from", description="ISO 4217 code (case-insensitive).")
    to: CurrencyCode = Field(description="ISO 4217 code (case-insensitive).")
    rate: RateText = Field(
        description="A JSON string: a plain decimal > 0 with at most 12 integer digits and 8 decimals."
    )
    effective_date: Instant = Field(
        description="ISO 8601; without an offset it is read as UTC. May lie in the future."
    )
    source: Source = Field(default="manual", description="Where the rate comes from.")

    @model_validator(mode="after")
    def _two_currencies(self) -> RateIn:
        if self.from_ == self.to:
            raise ValueError("from and to must differ: a currency's rate to itself is always 1")
        return self


class CountryOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "DE", "name": "Deutschland", "currency": "EUR", "calling_code": "+49"}]
        }
    )

    code: str = Field(description="ISO 3166-1 alpha-2 code.")
    name: str = Field(description="The country's name in the language asked (CLDR).")
    currency: str | None = Field(
        description="ISO 4217 code of the currency in use there (CLDR); null when none."
    )
    calling_code: str | None = Field(description="International calling code (`+49`); null when none.")


class AddressFieldOut(BaseModel):
    name: str = Field(description="The address member this field fills (`address_line_1`, `region`, …).")
    label: str = Field(description="The field's label in the language asked.")
    required: bool


class PostalCodeOut(BaseModel):
    pattern: str | None = Field(
        description="A regular expression the whole postal code must match; null when the country has none."
    )
    examples: list[str]


class RegionOut(BaseModel):
    code: str = Field(description="What `region` is stored as: the address data's key for the region.")
    name: str = Field(description="The region's name, in the language asked where the data has it.")


class AddressFormatOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "country_code": "DE",
                    "fields": [
                        {"name": "first_name", "label": "Vorname", "required": True},
                        {"name": "last_name", "label": "Nachname", "required": True},
                        {"name": "company", "label": "Firma", "required": False},
                        {"name": "address_line_1", "label": "Adresszeile 1", "required": True},
                        {"name": "address_line_2", "label": "Adresszeile 2", "required": False},
                        {"name": "postal_code", "label": "Postleitzahl", "required": True},
                        {"name": "city", "label": "Ort", "required": True},
                    ],
                    "postal_code": {"pattern": "^(?:\\d{5})$", "examples": ["26133", "53225"]},
                    "regions": [],
                    "uppercase": ["city"],
                }
            ]
        }
    )

    country_code: str
    fields: list[AddressFieldOut] = Field(description="The address's fields in the country's order.")
    postal_code: PostalCodeOut
    regions: list[RegionOut] = Field(
        description="The regions to choose from; empty when the data lists none."
    )
    uppercase: list[str] = Field(description="Fields the country's post writes in capitals.")


class MoneyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"amount": "1234.50", "currency": "CHF", "locale": "de-CH", "formatted": "CHF 1’234.50"}
            ]
        }
    )

    amount: str = Field(description="The amount, exactly as given.")
    currency: str
    locale: str = Field(description="The locale used, as a BCP 47 tag.")
    formatted: str = Field(description="What Babel's `format_currency` writes for this locale (CLDR).")
