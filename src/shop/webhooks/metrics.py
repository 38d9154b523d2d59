"""The webhooks context's metrics, on the kernel's registry. Endpoints are labelled by id, never by
URL (a URL may carry a token of the receiver's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from shop.core.metrics import REGISTRY

DELIVERIES = Counter(
    "shop_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered, retried (tried again later) or failed (given up).",
    ["outcome"],
    registry=REGISTRY,
)
BACKLOG = Gauge(
    "shop_webhook_backlog",
    "Webhook deliveries pending per endpoint, as last seen by the dispatcher.",
    ["endpoint"],
    registry=REGISTRY,
    # Every worker's dispatcher counts the same table: the largest of the live workers' views.
    multiprocess_mode="livemax",
)
OLDEST_PENDING_AGE = Gauge(
    "shop_webhook_oldest_pending_age_seconds",
    "Age of the oldest pending webhook delivery per endpoint, as last seen by the dispatcher.",
    ["endpoint"],
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
