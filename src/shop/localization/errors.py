"""Errors of the localization context: each a status and a stable code (API.md)."""

from __future__ import annotations

from shop.core.errors import ShopError


class UnknownCurrency(ShopError):
    status, code, title = 422, "unknown_currency", "Unknown currency"
    detail = "The currency is unknown or not active."


class UnknownLanguage(ShopError):
    status, code, title = 422, "unknown_language", "Unknown language"
    detail = "The language is unknown or not active."


class RateNotFound(ShopError):
    status, code, detail = 404, "rate_not_found", "No exchange rate is in force for this pair at that time."


class RateExists(ShopError):
    status, code, detail = 409, "rate_exists", "This pair already has a rate at that instant."


class CurrencyNotFound(ShopError):
    status, code, detail = 404, "not_found", "There is no currency with this code."


class LanguageNotFound(ShopError):
    status, code, detail = 404, "not_found", "There is no language with this code."


class UnknownCountry(ShopError):
    status, code, title = 404, "unknown_country", "Unknown country"
    detail = "There is no ISO 3166-1 country with this code."
