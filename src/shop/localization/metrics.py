"""The localization context's metrics, on the app's metrics registry."""

from __future__ import annotations

import time

from shop.core.metrics import scrape_time_gauge


class NewestRate:
    """When the newest exchange rate in force took effect, as last seen by the rates' upkeep; its age
    is computed at each scrape, so that rates nobody updates keep ageing between the upkeep's passes."""

    def __init__(self) -> None:
        self.effective_at: float | None = None

    def age_seconds(self) -> float:
        return 0.0 if self.effective_at is None else max(0.0, time.time() - self.effective_at)


NEWEST_RATE = NewestRate()
# Computed by the worker that answers the scrape: a set_function gauge has no place in the files
# of multiprocess mode, and would be missing from /metrics under `shop serve`.
scrape_time_gauge(
    "shop_exchange_rate_newest_age_seconds",
    "Age of the newest exchange rate in force (0 until the first is seen).",
    NEWEST_RATE.age_seconds,
)
