"""Errors of the users context: each a status and a stable code, rendered as problem+json by the kernel.
An unknown language or currency is localization's error, raised through `shop.localization.public`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shop.core.errors import InvalidInput, ShopError


class AddressLimit(ShopError):
    status, code, title = 409, "address_limit", "Address limit reached"
    detail = "A user has at most 20 addresses; delete one before adding another."

    def __init__(self, limit: int) -> None:
        super().__init__(
            "A user has at most {limit} addresses; delete one before adding another.",
            values={"limit": str(limit)},
        )


class AddressRefused(InvalidInput):
    """The address breaks its country's rules: each issue names the field (`loc`), its `type`
    (`address.required`, `address.invalid_postal_code`, `address.invalid_region`) and a `msg` in the
    request's language."""

    def __init__(self, errors: Sequence[Mapping[str, Any]]) -> None:
        ShopError.__init__(self, errors=errors)
