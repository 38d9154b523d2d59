"""Prometheus metrics: the registry every context counts into, and the kernel's own counters (HTTP, mail
outbox, the process and the Python runtime). A context's counters live in its own `metrics.py`,
registered on `REGISTRY`."""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client import generate_latest as _generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)
# The process (CPU, memory, file descriptors, start time) and the interpreter (version, GC).
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

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


class OldestPending:
    """When the oldest waiting mail was written, as last seen by the sender; its age is computed at
    each scrape, so that a stuck outbox keeps ageing between the sender's passes."""

    def __init__(self) -> None:
        self.created_at: float | None = None

    def age_seconds(self) -> float:
        return 0.0 if self.created_at is None else max(0.0, time.time() - self.created_at)


OUTBOX_OLDEST = OldestPending()
OUTBOX_OLDEST_AGE = Gauge(
    "shop_mail_outbox_oldest_pending_age_seconds",
    "Age of the oldest mail waiting in the outbox (0 when none waits).",
    registry=REGISTRY,
)
OUTBOX_OLDEST_AGE.set_function(OUTBOX_OLDEST.age_seconds)
MAILS_FAILED = Counter(
    "shop_mails_failed_total",
    "Mails given up on: the SMTP server refused them permanently (5xx) on every attempt.",
    registry=REGISTRY,
)


def render_latest() -> tuple[bytes, str]:
    return _generate_latest(REGISTRY), CONTENT_TYPE_LATEST
