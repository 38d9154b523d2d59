"""Print the reference rows shipped by migration 0003, from babel (CLDR) and pycountry (ISO 4217).

Run `python -m tests.localization.generate_reference_data` and paste its output into a *new* migration
when the reference data should change: an applied migration is never edited, and the migration holds
literal rows so that upgrading babel or pycountry never changes what an old revision inserts.
"""

from __future__ import annotations

import unicodedata

import babel
import pycountry
from babel import Locale
from babel.core import get_cldr_version
from babel.numbers import get_currency_precision, get_currency_symbol

LANGUAGES = ("en", "es", "zh", "fr", "de", "ja", "pt")

# The euro, every currency of the ECB's daily reference rates (BGN until Bulgaria adopted the euro on
# 2026-01-01), and the currencies API.md names.
CURRENCIES = [
    "EUR",
    "USD",
    "JPY",
    "BGN",
    "CZK",
    "DKK",
    "GBP",
    "HUF",
    "PLN",
    "RON",
    "SEK",
    "CHF",
    "ISK",
    "NOK",
    "TRY",
    "AUD",
    "BRL",
    "CAD",
    "CNY",
    "HKD",
    "IDR",
    "ILS",
    "INR",
    "KRW",
    "MXN",
    "MYR",
    "NZD",
    "PHP",
    "SGD",
    "THB",
    "ZAR",
    "KWD",
]

# Withdrawn currencies: kept so that historical ECB files import, but not offered to customers.
INACTIVE = {"BGN"}
# ISO 4217 names of currencies that the current pycountry no longer lists (from ISO 4217 before removal).
WITHDRAWN_NAMES = {"BGN": "Bulgarian Lev"}

# Where CLDR's English symbol is only the code, the symbol used in the currency's home locale.
HOME_LOCALE = {
    "BGN": "bg_BG",
    "CZK": "cs_CZ",
    "DKK": "da_DK",
    "HUF": "hu_HU",
    "PLN": "pl_PL",
    "RON": "ro_RO",
    "SEK": "sv_SE",
    "CHF": "de_CH",
    "ISK": "is_IS",
    "NOK": "nb_NO",
    "TRY": "tr_TR",
    "IDR": "id_ID",
    "MYR": "ms_MY",
    "SGD": "en_SG",
    "THB": "th_TH",
    "ZAR": "en_ZA",
    "KWD": "ar_KW",
}


def _strip_marks(text: str) -> str:
    # CLDR's Arabic symbols carry bidi control characters (U+200F); they are not part of the symbol.
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _ui_list_case(name: str) -> str:
    # CLDR contextTransforms: es, fr and pt titlecase a language name at the start of a UI list item.
    return name[:1].upper() + name[1:]


def language_rows() -> list[tuple[str, str, str]]:
    return [
        (code, Locale(code).get_display_name("en"), _ui_list_case(Locale(code).get_display_name(code)))
        for code in LANGUAGES
    ]


def currency_symbol(code: str) -> str:
    symbol = get_currency_symbol(code, "en")
    if symbol == code and code in HOME_LOCALE:
        symbol = _strip_marks(get_currency_symbol(code, HOME_LOCALE[code]))
    return symbol


def currency_rows() -> list[tuple[str, str, str, int, bool]]:
    rows = []
    for code in sorted(CURRENCIES):
        record = pycountry.currencies.get(alpha_3=code)
        name = record.name if record is not None else WITHDRAWN_NAMES[code]
        rows.append((code, name, currency_symbol(code), get_currency_precision(code), code not in INACTIVE))
    return rows


def main() -> None:
    print(f"# babel {babel.__version__} (CLDR {get_cldr_version()}), pycountry {pycountry.__version__}")
    print("LANGUAGES = [")
    for row in language_rows():
        print(f"    {row!r},")
    print("]")
    print("CURRENCIES = [")
    for row in currency_rows():
        print(f"    {row!r},")
    print("]")


if __name__ == "__main__":
    main()
