"""The languages and currencies the migration ships (API.md: reference data shipped by migrations)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# ISO 4217 minor units (the standard's own table), for every currency API.md asks for.
ISO_4217_MINOR_UNITS = {
    "USD": 2, "EUR": 2, "CNY": 2, "GBP": 2, "JPY": 0, "KWD": 3,
    "BGN": 2, "CZK": 2, "DKK": 2, "HUF": 2, "PLN": 2, "RON": 2, "SEK": 2, "CHF": 2, "ISK": 0,
    "NOK": 2, "TRY": 2, "AUD": 2, "BRL": 2, "CAD": 2, "HKD": 2, "IDR": 2, "ILS": 2, "INR": 2,
    "KRW": 0, "MXN": 2, "MYR": 2, "NZD": 2, "PHP": 2, "SGD": 2, "THB": 2, "ZAR": 2,
}  # fmt: skip


async def test_every_required_currency_with_iso_minor_units(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT code, name, symbol, decimal_places FROM localization.currencies")
            )
        ).all()
    shipped = {code: (name, symbol, places) for code, name, symbol, places in rows}
    assert {code: shipped[code][2] for code in ISO_4217_MINOR_UNITS} == ISO_4217_MINOR_UNITS
    assert all(name and symbol for name, symbol, _ in shipped.values())


async def test_every_required_language_with_native_names(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT code, native_name FROM localization.languages WHERE is_active")
            )
        ).all()
    native = dict(rows)
    assert native == {
        "en": "English",
        "es": "Español",
        "zh": "中文",
        "fr": "Français",
        "de": "Deutsch",
        "ja": "日本語",
        "pt": "Português",
    }
