"""Errors of the users context: each a status and a stable code, rendered as problem+json by the kernel."""

from __future__ import annotations

from shop.core.errors import ShopError


class UnknownLanguage(ShopError):
    status, code, title = 422, "unknown_language", "Unknown language"
    detail = "The language is not one of the active languages."

    def __init__(self, language: str) -> None:
        super().__init__(f"{language!r} is not an active language; see GET /api/v1/languages.")


class UnknownCurrency(ShopError):
    status, code, title = 422, "unknown_currency", "Unknown currency"
    detail = "The currency is not one of the active currencies."

    def __init__(self, currency: str) -> None:
        super().__init__(f"{currency!r} is not an active currency; see GET /api/v1/currencies.")


class AddressLimit(ShopError):
    status, code, title = 409, "address_limit", "Address limit reached"
    detail = "A user has at most 20 addresses; delete one before adding another."

    def __init__(self, limit: int) -> None:
        super().__init__(f"A user has at most {limit} addresses; delete one before adding another.")
