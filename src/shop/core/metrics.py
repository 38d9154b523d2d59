"""Prometheus metrics: the registry every context counts into, and the kernel's own counters (HTTP, mail
outbox). A context's counters live in its own `metrics.py`, registered on `REGISTRY`."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "shop_http_requests_total",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "shop_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_BACKLOG = Gauge(
    "shop_mail_outbox_backlog",
    "Mails waiting in the outbox, as last seen by the sender.",
    registry=REGISTRY,
)
MAILS_SENT = Counter("shop_mails_sent_total", "Mails handed to the SMTP server.", registry=REGISTRY)
MAIL_FAILURES = Counter(
    "shop_mail_send_failures_total", "Failed attempts to hand a mail to SMTP.", registry=REGISTRY
)


MAILS_FAILED = Counter(
    "shop_mails_failed_total",
    "Mails given up on: the SMTP server refused them permanently (5xx) on every attempt.",
    registry=REGISTRY,
)


def render_latest() -> tuple[bytes, str]:
    return _generate_latest(REGISTRY), CONTENT_TYPE_LATEST
