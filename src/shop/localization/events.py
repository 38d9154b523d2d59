"""The localization context's public events, published inside the transaction of the change
(re-exported by `public.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ExchangeRateCreated:
    """A stored rate, as `POST /admin/exchange-rates` answers it, JSON-ready."""

    rate: Mapping[str, Any]
