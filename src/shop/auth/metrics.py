"""The auth context's counters, on the app's metrics registry."""

from __future__ import annotations

from prometheus_client import Counter

from shop.core.metrics import REGISTRY

LOGINS = Counter("shop_logins_total", "Login attempts by outcome.", ["outcome"], registry=REGISTRY)
LOCKOUTS = Counter("shop_lockouts_total", "Accounts locked after failed logins.", registry=REGISTRY)
