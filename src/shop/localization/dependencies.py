"""Values the localization endpoints are injected with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shop.core.config import Settings


def get_base_currency(request: Request) -> str:
    """BASE_CURRENCY: the pivot of cross rates, and the default `base` of /exchange-rates."""
    settings: Settings = request.app.state.settings
    return settings.base_currency


BaseCurrency = Annotated[str, Depends(get_base_currency)]
