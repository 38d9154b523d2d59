"""Errors of the users context: each a status and a stable code, rendered as problem+json by the kernel.
An unknown language or currency is localization's error, raised through `shop.localization.public`."""

from __future__ import annotations

from shop.core.errors import ShopError


class AddressLimit(ShopError):
    status, code, title = 409, "address_limit", "Address limit reached"
    detail = "A user has at most 20 addresses; delete one before adding another."

    def __init__(self, limit: int) -> None:
        super().__init__(f"A user has at most {limit} addresses; delete one before adding another.")
