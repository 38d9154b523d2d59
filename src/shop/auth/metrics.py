"""The auth context's counters, on the app's metrics registry."""

from __future__ import annotations

from prometheus_client import Counter

from shop.core.metrics import REGISTRY

LOGINS = Counter("shop_logins_total", "Login attempts by outcome.", ["outcome"], registry=REGISTRY)
LOCKOUTS = Counter("shop_lockouts_total", "Accounts locked after failed logins.", registry=REGISTRY)
MFA_VERIFICATIONS = Counter(
    "shop_mfa_verifications_total",
    "Second-step codes checked, by where (verify, confirm, manage), method and outcome.",
    ["step", "method", "outcome"],
    registry=REGISTRY,
)
MFA_CHANGES = Counter(
    "shop_mfa_changes_total",
    "Two-step sign-in turned on or off, recovery codes replaced.",
    ["change"],
    registry=REGISTRY,
)
