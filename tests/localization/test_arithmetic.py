"""The pure rules: Decimal rounding, rate resolution, Accept-Language matching, input formats."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from shop.localization.repository import StoredRate
from shop.localization.schemas import Amount, Instant, RateText
from shop.localization.service import (
    converted,
    format_rate,
    match_language,
    parse_accept_language,
    resolve_rate,
    round_rate,
)
from tests.support.localization import utc

JAN, FEB = utc(2026, 1, 1), utc(2026, 2, 1)


def stored(from_code: str, to_code: str, rate: str, when: datetime = JAN) -> StoredRate:
    return StoredRate(from_code, to_code, Decimal(rate), when, "test")


def table(*rates: StoredRate) -> dict[tuple[str, str], StoredRate]:
    return {(rate.from_code, rate.to_code): rate for rate in rates}


# -- rounding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "places", "expected"),
    [
        ("2.675", "1", 2, "2.68"),  # float would say 2.67
        ("0.01", "0.5", 2, "0.01"),  # 0.005: half-up, not half-even
        ("10.01", "0.5", 2, "5.01"),  # 5.005
        ("10.50", "1", 2, "10.50"),
        ("0", "150.5", 2, "0.00"),
        ("1", "150.5", 0, "151"),  # half-even would give 150
        ("2", "150.25", 0, "301"),  # 300.5
        ("8.2", "150.5", 0, "1234"),  # 1234.1
        ("8.205", "150.5", 0, "1235"),  # 1234.8525
        ("1", "0.3065", 3, "0.307"),  # half-even would give 0.306
        ("5", "0.247", 3, "1.235"),
        ("4", "0.3075", 3, "1.230"),
        # (1e12 - 1e-8)(1e8 - 1e-8) = 1e20 - 1e4 - 1 + 1e-16: 37 significant digits, none lost.
        ("999999999999.99999999", "99999999.99999999", 2, "99999999999999989999.00"),
    ],
)
def test_converted_amount_is_rounded_half_up_to_the_minor_units(
    amount: str, rate: str, places: int, expected: str
) -> None:
    result = converted(Decimal(amount), Decimal(rate), places)
    assert f"{result:f}" == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.123456785", "0.12345679"),
        ("0.123456775", "0.12345678"),  # half-up at the 9th decimal even when the 8th is odd/even
        ("0.000000005", "0.00000001"),
        ("0.0000000049", "0.00000000"),
    ],
)
def test_round_rate_is_half_up_to_8_decimals(value: str, expected: str) -> None:
    assert f"{round_rate(Decimal(value)):f}" == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", "1"),
        ("1.00000000", "1"),
        ("100.00000000", "100"),
        ("0.00000001", "0.00000001"),
        ("1.085", "1.085"),
    ],
)
def test_format_rate_is_plain_without_trailing_zeros(value: str, expected: str) -> None:
    assert format_rate(Decimal(value)) == expected


# -- rate resolution ------------------------------------------------------------------------------


def test_direct_rate_wins_even_over_a_newer_reverse_rate() -> None:
    rates = table(stored("EUR", "USD", "1.08", JAN), stored("USD", "EUR", "0.5", FEB))
    rate = resolve_rate(rates, "EUR", "USD", "USD")
    assert rate is not None
    assert (rate.rate, rate.effective_date, rate.source) == (Decimal("1.08"), JAN, "test")


def test_inverse_is_computed_at_full_precision_then_rounded() -> None:
    rate = resolve_rate(table(stored("EUR", "USD", "1.085", FEB)), "USD", "EUR", "USD")
    assert rate is not None
    assert (rate.rate, rate.effective_date, rate.source) == (Decimal("0.92165899"), FEB, "derived")


def test_cross_rate_multiplies_unrounded_legs_and_takes_the_older_date() -> None:
    # GBP→USD is the inverse of USD→GBP = 3 (1/3, unrounded); USD→IDR = 150000 direct.
    rates = table(stored("USD", "GBP", "3", FEB), stored("USD", "IDR", "150000", JAN))
    rate = resolve_rate(rates, "GBP", "IDR", "USD")
    assert rate is not None
    # Rounding the first leg to 0.33333333 first would give 49999.9995.
    assert (rate.rate, rate.effective_date, rate.source) == (Decimal("50000"), JAN, "derived")


def test_cross_rate_with_both_legs_inverse() -> None:
    rates = table(stored("USD", "EUR", "0.8", JAN), stored("JPY", "USD", "0.0064", FEB))
    rate = resolve_rate(rates, "EUR", "JPY", "USD")
    assert rate is not None
    assert rate.rate == Decimal("195.3125")  # (1/0.8) * (1/0.0064)
    assert rate.effective_date == JAN


def test_no_cross_without_both_legs_and_none_through_the_pivot_itself() -> None:
    assert resolve_rate(table(stored("USD", "GBP", "0.8")), "GBP", "JPY", "USD") is None
    assert resolve_rate(table(stored("EUR", "GBP", "0.8")), "USD", "JPY", "USD") is None


def test_a_derived_rate_that_rounds_to_zero_is_no_rate() -> None:
    assert resolve_rate(table(stored("USD", "XXX", "999999999999")), "XXX", "USD", "USD") is None


# -- Accept-Language ------------------------------------------------------------------------------

ACTIVE = {"en", "es", "zh", "fr", "de", "ja", "pt"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es", "es"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("zh-Hant-TW", "zh"),
        ("fr;q=0.5, de;q=0.8", "de"),
        ("ko, ja;q=0.1", "ja"),
        ("ko", "en"),
        ("de;q=0, fr;q=0.1", "fr"),
        ("PT-br", "pt"),
        ("pt_BR", "pt"),
        ("*;q=0.9, es;q=0.5", "en"),
        ("x-klingon, es", "es"),
        ("es;q=2, fr", "fr"),  # q > 1 is malformed: that entry is dropped
        ("es;q=abc, de", "de"),
        (";;;,,,=q", "en"),
        ("", "en"),
        (None, "en"),
        ("a" * 10000, "en"),
        ("en-US;q=0.7, es-MX;q=0.7", "en"),  # equal q: header order
    ],
)
def test_best_language_matching(header: str | None, expected: str) -> None:
    assert match_language(parse_accept_language(header), ACTIVE) == expected


def test_inactive_languages_are_not_matched() -> None:
    assert match_language(parse_accept_language("es, fr;q=0.5"), ACTIVE - {"es"}) == "fr"


# -- input formats --------------------------------------------------------------------------------

_amount = TypeAdapter(Amount)
_rate = TypeAdapter(RateText)
_instant = TypeAdapter(Instant)


@pytest.mark.parametrize("value", ["0", "10", "10.50", "000123.5", "999999999999.99999999", "0.00000001"])
def test_amounts_accepted(value: str) -> None:
    assert _amount.validate_python(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        "nan",
        "inf",
        "Infinity",
        "-inf",
        "1e3",
        "1E3",
        "-1",
        "+1",
        "1,5",
        "1\n",
        "1.5\n",
        " 1",
        "1.",
        ".5",
        "",
        "1234567890123",
        "1.123456789",
        "0x10",
        "1_000",
        "١٢",
    ],
)
def test_amounts_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        _amount.validate_python(value)


@pytest.mark.parametrize("value", ["0", "0.000", "-1", "1e2", "1234567890123.5", "0.000000001"])
def test_rates_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        _rate.validate_python(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-01T00:00:00Z", utc(2026, 2, 1)),
        ("2026-02-01T02:00:00+02:00", utc(2026, 2, 1)),
        ("2026-02-01T00:00:00", utc(2026, 2, 1)),  # no offset: UTC
        ("2026-02-01", utc(2026, 2, 1)),
    ],
)
def test_instants_are_iso_8601_in_utc(value: str, expected: datetime) -> None:
    parsed = _instant.validate_python(value)
    assert parsed == expected
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize(
    "value",
    ["yesterday", "1700000000", "2026-13-01", "2026-02-30T00:00:00Z", "0001-01-01T00:00:00+01:00", ""],
)
def test_instants_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        _instant.validate_python(value)


def test_unix_numbers_are_not_instants() -> None:
    with pytest.raises(ValidationError):
        _instant.validate_python(1700000000)
