"""Request and response bodies of the users context.

Request bodies forbid unknown fields (nobody can mass-assign `user_id` or `is_primary` on a profile).
Strings are stripped; required ones must not be empty; an optional one sent empty becomes null.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import phonenumbers
import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
)
from pydantic_core import PydanticCustomError

from shop.core.validation import LEFT_OUT_NOT_NULL, RequestModel
from shop.localization.public import DEFAULT_CURRENCY, DEFAULT_LANGUAGE, PostalAddress, address_lines

AddressType = Literal["billing", "shipping", "both"]

# --- field types -------------------------------------------------------------------------------


def _blank_to_none(value: object) -> object:
    """An optional string sent as "" (or only spaces) means no value."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("must be a phone number in international form, like +44 20 7946 0958") from exc
    if number.extension:
        raise ValueError("must be a phone number without an extension")
    if not phonenumbers.is_possible_number(number):
        raise ValueError("is not a possible phone number for its country")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _iso_country(value: str) -> str:
    code = value.upper()
    if len(code) != 2 or not code.isascii() or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, like DE or US")
    return code


def _single_line(value: str) -> str:
    """Names, address lines, city, region, postal code and phone are one line each: a CR or LF would
    split a label, a mail header or a CSV row."""
    if "\r" in value or "\n" in value:
        raise PydanticCustomError("string_line_break", "must be a single line (no CR or LF)")
    return value


SingleLine = AfterValidator(_single_line)


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


def _language_tag_case(value: str) -> str:
    """BCP 47 tags are case-insensitive; write them in their canonical case (`pt-BR`, `zh-Hant`) — the
    case the localization context stores its codes in."""
    subtags = value.split("-")
    canonical = [subtags[0].lower()]
    for subtag in subtags[1:]:
        if len(subtag) == 2:
            canonical.append(subtag.upper())
        elif len(subtag) == 4:
            canonical.append(subtag.title())
        else:
            canonical.append(subtag.lower())
    return "-".join(canonical)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]
OptionalName = Annotated[Name | None, BeforeValidator(_blank_to_none)]
Company = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), SingleLine]
OptionalCompany = Annotated[Company | None, BeforeValidator(_blank_to_none)]
AddressLine = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), SingleLine
]
OptionalAddressLine = Annotated[AddressLine | None, BeforeValidator(_blank_to_none)]
PostalCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20), SingleLine]
OptionalPostalCode = Annotated[PostalCode | None, BeforeValidator(_blank_to_none)]
CountryCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    AfterValidator(_iso_country),
    Field(description="ISO 3166-1 alpha-2, any case; returned upper-cased.", examples=["GB"]),
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
    SingleLine,
    AfterValidator(_e164),
    Field(
        description="International form (`+44 20 7946 0958`); must be a possible number for its "
        "country. Stored and returned as E.164 (`+442079460958`).",
        examples=["+44 20 7946 0958"],
    ),
]
OptionalPhone = Annotated[Phone | None, BeforeValidator(_blank_to_none)]
LanguageCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=35),
    AfterValidator(_language_tag_case),
    Field(description="An active language code (GET /api/v1/languages).", examples=["en"]),
]
CurrencyCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=16),
    Field(description="An active currency code (GET /api/v1/currencies).", examples=["USD"]),
]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
_IS_PRIMARY = Field(
    description="`true` makes this the primary address of each use it serves, taking primary "
    "from the user's other addresses that share a use; `false` makes it not primary.",
)
IsPrimary = Annotated[bool | None, Field(strict=True), _IS_PRIMARY]


# --- profile -----------------------------------------------------------------------------------

_PROFILE_EXAMPLE: dict[str, Any] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+44 20 7946 0958",
    "preferred_language": "en",
    "preferred_currency": "GBP",
}


class ProfileReplace(RequestModel):
    """PUT: every editable field. An absent name or phone becomes null; an absent language or
    currency becomes the default (`en`, `USD`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_PROFILE_EXAMPLE]})

    first_name: OptionalName = None
    last_name: OptionalName = None
    phone: OptionalPhone = None
    preferred_language: LanguageCode = DEFAULT_LANGUAGE
    preferred_currency: CurrencyCode = DEFAULT_CURRENCY


class ProfileUpdate(RequestModel):
    """PATCH: only the fields sent change. Names and phone may be set to null; language and currency
    may be left out but not set to null."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"preferred_currency": "EUR"}, {"phone": None}]}
    )

    first_name: OptionalName = None
    last_name: OptionalName = None
    phone: OptionalPhone = None
    # May be left out, never null: the schema says so too, as the validator checks.
    preferred_language: Annotated[LanguageCode | None, LEFT_OUT_NOT_NULL] = None
    preferred_currency: Annotated[CurrencyCode | None, LEFT_OUT_NOT_NULL] = None

    _no_null_codes = field_validator("preferred_language", "preferred_currency", mode="before")(_not_null)


class ProfileOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "user_id": "0b9d3c52-4f7e-4a36-9d2a-2f0c8f1b7e11",
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "phone": "+442079460958",
                    "preferred_language": "en",
                    "preferred_currency": "GBP",
                    "created_at": "2026-11-21T12:00:00Z",
                    "updated_at": "2026-11-21T12:30:00Z",
                }
            ]
        },
    )

    user_id: uuid.UUID
    first_name: str | None
    last_name: str | None
    phone: str | None = Field(description="E.164")
    preferred_language: str
    preferred_currency: str
    created_at: UtcDatetime
    updated_at: UtcDatetime


# --- addresses ---------------------------------------------------------------------------------

_ADDRESS_EXAMPLE: dict[str, Any] = {
    "type": "both",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Analytical Engines Ltd",
    "address_line_1": "12 St James's Square",
    "address_line_2": None,
    "city": "London",
    "region": None,
    "postal_code": "SW1Y 4JH",
    "country_code": "gb",
    "phone": "+44 20 7946 0958",
    "is_primary": True,
}


class AddressIn(RequestModel):
    """POST and PUT: the whole address. On PUT an absent optional field becomes null, and an absent
    `is_primary` keeps the address's primary flag (see the docs on type changes)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_ADDRESS_EXAMPLE]})

    type: AddressType = Field(description="`billing`, `shipping`, or `both` (serves both uses).")
    first_name: Name
    last_name: Name
    company: OptionalCompany = None
    address_line_1: AddressLine
    address_line_2: OptionalAddressLine = None
    city: Name
    region: OptionalName = Field(
        default=None,
        description="Required where the country's address data says so (US, CN, BR, …); stored as the "
        "data's key for the region (`california` → `CA`).",
    )
    postal_code: OptionalPostalCode = Field(
        default=None,
        description="Required where the country has postal codes (not in HK; optional in IE), and "
        "must fit its pattern (GET /countries/{code}/address-format). Required everywhere with "
        "ADDRESS_VALIDATION=off.",
    )
    country_code: CountryCode
    phone: OptionalPhone = None
    is_primary: IsPrimary = None


class AddressUpdate(RequestModel):
    """PATCH: only the fields sent change. Optional fields may be set to null, required ones not."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"address_line_2": "Flat 3"}, {"is_primary": True}]},
    )

    # The fields a create requires may be left out here, never null (schema and validator agree).
    type: Annotated[AddressType | None, LEFT_OUT_NOT_NULL] = None
    first_name: Annotated[Name | None, LEFT_OUT_NOT_NULL] = None
    last_name: Annotated[Name | None, LEFT_OUT_NOT_NULL] = None
    company: OptionalCompany = None
    address_line_1: Annotated[AddressLine | None, LEFT_OUT_NOT_NULL] = None
    address_line_2: OptionalAddressLine = None
    city: Annotated[Name | None, LEFT_OUT_NOT_NULL] = None
    region: OptionalName = None
    postal_code: OptionalPostalCode = None
    country_code: Annotated[CountryCode | None, LEFT_OUT_NOT_NULL] = None
    phone: OptionalPhone = None
    is_primary: Annotated[IsPrimary, LEFT_OUT_NOT_NULL] = None

    _no_null_required = field_validator(
        "type",
        "first_name",
        "last_name",
        "address_line_1",
        "city",
        "country_code",
        "is_primary",
        mode="before",
    )(_not_null)


class AddressOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "5f1c2a7e-9b3d-4c1e-8a2f-6d7e8f9a0b1c",
                    **_ADDRESS_EXAMPLE,
                    # No nulls in examples: the OpenAPI export drops null values, and the example
                    # would lose required fields.
                    "address_line_2": "Second floor",
                    "region": "Greater London",
                    "country_code": "GB",
                    "phone": "+442079460958",
                    "created_at": "2026-11-21T12:00:00Z",
                    "updated_at": "2026-11-21T12:00:00Z",
                    "formatted": [
                        "Ada Lovelace",
                        "Analytical Engines Ltd",
                        "12 St James's Square",
                        "Second floor",
                        "LONDON",
                        "SW1Y 4JH",
                        "UNITED KINGDOM",
                    ],
                }
            ]
        },
    )

    id: uuid.UUID
    type: AddressType
    is_primary: bool
    first_name: str
    last_name: str
    company: str | None
    address_line_1: str
    address_line_2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country_code: str
    phone: str | None = Field(description="E.164")
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @computed_field(  # type: ignore[prop-decorator]
        description="The address as its country writes it (Google's address data): local order and "
        "script, the country's name last.",
        examples=[
            [
                "Ada Lovelace",
                "Analytical Engines Ltd",
                "12 St James's Square",
                "LONDON",
                "SW1Y 4JH",
                "UNITED KINGDOM",
            ]
        ],
    )
    @property
    def formatted(self) -> list[str]:
        return list(
            address_lines(
                PostalAddress(
                    country_code=self.country_code,
                    name=f"{self.first_name} {self.last_name}",
                    company=self.company,
                    address_line_1=self.address_line_1,
                    address_line_2=self.address_line_2,
                    city=self.city,
                    region=self.region,
                    postal_code=self.postal_code,
                )
            )
        )
