"""Prometheus metrics: the registry every context counts into, and the kernel's own counters (HTTP, mail
outbox, the process and the Python runtime). A context's counters live in its own `metrics.py`,
registered on `REGISTRY`.

One scrape sees the whole instance. `shop serve` runs its workers with PROMETHEUS_MULTIPROC_DIR set
(prometheus_client's multiprocess mode): every worker writes its counters, histograms and gauges
into files there, and `/metrics`, whichever worker answers it, sums them (`MultiProcessCollector`).
Gauges say how (`multiprocess_mode`): a backlog every worker sees alike is the largest of the live
workers' views, memory the sum. The process metrics of each worker are copied into such gauges every
few seconds (`ProcessGauges`), as the files hold only what was written to them. Without the variable
(tests driving the app in-process, `--reload`) the registry is read directly.

A gauge whose value is computed when scraped (an age) cannot live in the files: give it to
`scrape_time_gauge`, which computes it in the worker that answers the scrape.
"""

from __future__ import annotations

import asyncio
import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable

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
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shop.core.background import BackgroundLoop

# Read once, at import: prometheus_client chooses where values live (memory or files) at its own
# import, which happens in the worker after `shop serve` set the variable.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

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
    # Every worker's sender counts the same outbox: the largest of the live workers' last counts.
    multiprocess_mode="livemax",
)
MAILS_SENT = Counter("shop_mails_sent_total", "Mails handed to the SMTP server.", registry=REGISTRY)
MAIL_FAILURES = Counter(
    "shop_mail_send_failures_total", "Failed attempts to hand a mail to SMTP.", registry=REGISTRY
)


class RequestMetrics:
    """HTTP_REQUESTS and HTTP_LATENCY of the requests that ended in one turn of the event loop,
    written together at its end: per (method, route, status), one increment of the counter and of
    the histogram's sum and of each bucket hit, instead of three per request. In multiprocess mode
    each increment writes the worker's file under a lock (a tenth of a /health/live request's time
    went there). A scrape writes what waits first (`render_latest`); another worker's requests of
    the current turn are seen at the next."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[str, str, int], list[float]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # The labelled children, found once: `labels()` checks and locks on every call. Route
        # templates (and the one label of unmatched paths) bound the keys.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def add(self, method: str, route: str, status: int, elapsed: float) -> None:
        waiting = self._waiting
        if waiting and self._loop is not None and self._loop.is_closed():
            self.flush()  # a loop closed before its turn ended (tests run one loop after another)
        if not waiting:
            try:
                self._loop = asyncio.get_running_loop()
                self._loop.call_soon(self.flush)
            except RuntimeError:  # no event loop: written at once
                waiting[(method, route, status)] = [elapsed]
                self.flush()
                return
        durations = waiting.get((method, route, status))
        if durations is None:
            waiting[(method, route, status)] = [elapsed]
        else:
            durations.append(elapsed)

    def flush(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for key, durations in waiting.items():
            children = self._children.get(key)
            if children is None:
                method, route, status = key
                children = (
                    HTTP_REQUESTS.labels(method, route, str(status)),
                    HTTP_LATENCY.labels(method, route),
                )
                self._children[key] = children
            children[0].inc(len(durations))
            observe_all(children[1], durations)


def observe_all(histogram: Histogram, values: list[float]) -> None:
    """What `histogram.observe(value)` for each value does (prometheus_client keeps a count per
    bucket, not cumulated, and the sum), with one increment per bucket hit: prometheus_client has no
    call for several observations. tests/core/test_observability.py holds it to `observe`."""
    bounds = histogram._upper_bounds
    hits: dict[int, int] = {}
    for value in values:
        index = bisect_left(bounds, value)
        hits[index] = hits.get(index, 0) + 1
    histogram._sum.inc(sum(values))
    for index, count in hits.items():
        histogram._buckets[index].inc(count)


REQUEST_METRICS = RequestMetrics()


class OldestPending:
    """When the oldest waiting mail was written, as last seen by the sender; its age is computed at
    each scrape, so that a stuck outbox keeps ageing between the sender's passes."""

    def __init__(self) -> None:
        self.created_at: float | None = None

    def age_seconds(self) -> float:
        return 0.0 if self.created_at is None else max(0.0, time.time() - self.created_at)


class ScrapeTimeGauges(Collector):
    """Gauges computed in the worker that answers the scrape (every worker sees the same outbox)."""

    def __init__(self) -> None:
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def collect(self) -> Iterable[Metric]:
        for name, (documentation, value) in self.gauges.items():
            yield GaugeMetricFamily(name, documentation, value=value())


SCRAPE_TIME = ScrapeTimeGauges()


def scrape_time_gauge(name: str, documentation: str, value: Callable[[], float]) -> None:
    """A gauge whose value `value()` gives when a scrape reads it, in either mode."""
    SCRAPE_TIME.gauges[name] = (documentation, value)


OUTBOX_OLDEST = OldestPending()
scrape_time_gauge(
    "shop_mail_outbox_oldest_pending_age_seconds",
    "Age of the oldest mail waiting in the outbox (0 when none waits).",
    OUTBOX_OLDEST.age_seconds,
)
MAILS_FAILED = Counter(
    "shop_mails_failed_total",
    "Mails given up on: the SMTP server refused them permanently (5xx) on every attempt.",
    registry=REGISTRY,
)


# The process's own metrics, per worker, as gauges in the files: (name, help, how workers combine).
_PROCESS_GAUGES = {
    "process_resident_memory_bytes": ("Resident memory size in bytes, all workers.", "livesum"),
    "process_virtual_memory_bytes": ("Virtual memory size in bytes, all workers.", "livesum"),
    "process_cpu_seconds_total": ("CPU time of the live workers, user and system, in seconds.", "livesum"),
    "process_open_fds": ("Open file descriptors, all workers.", "livesum"),
    "process_max_fds": ("Largest number of open file descriptors a worker may have.", "livemax"),
    "process_start_time_seconds": (
        "Start time of the oldest live worker, in seconds since the epoch.",
        "livemin",
    ),
}


class ProcessGauges:
    """Copies this worker's process metrics (read by prometheus_client's own ProcessCollector) into
    multiprocess gauges; `refresh()` is called by `MetricsRefresh` and before each scrape."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._source = ProcessCollector(registry=None)
        self._gauges = {
            name: Gauge(name, documentation, registry=registry, multiprocess_mode=mode)  # type: ignore[arg-type]
            for name, (documentation, mode) in _PROCESS_GAUGES.items()
        }

    def refresh(self) -> None:
        for family in self._source.collect():
            for sample in family.samples:
                gauge = self._gauges.get(sample.name)
                if gauge is not None:
                    gauge.set(sample.value)


def _build_scrape_registry() -> tuple[CollectorRegistry, ProcessGauges | None]:
    if not MULTIPROCESS:
        # The process (CPU, memory, file descriptors, start time) and the interpreter (version, GC).
        ProcessCollector(registry=REGISTRY)
        PlatformCollector(registry=REGISTRY)
        GCCollector(registry=REGISTRY)
        REGISTRY.register(SCRAPE_TIME)
        return REGISTRY, None
    from prometheus_client import multiprocess

    process = ProcessGauges(REGISTRY)
    scrape = CollectorRegistry()
    multiprocess.MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]
    PlatformCollector(registry=scrape)  # python_info: the same for every worker
    scrape.register(SCRAPE_TIME)
    return scrape, process


_SCRAPE, PROCESS = _build_scrape_registry()


def render_latest() -> tuple[bytes, str]:
    REQUEST_METRICS.flush()
    if PROCESS is not None:
        PROCESS.refresh()
    return _generate_latest(_SCRAPE), CONTENT_TYPE_LATEST


def worker_exited() -> None:
    """This worker stops: its live gauges leave the sums (its counters stay counted)."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class ProcessMetricsLoop(BackgroundLoop):
    """In multiprocess mode, every few seconds: this worker's process metrics into the files, so that
    a scrape answered by another worker sees them."""

    name = "process-metrics"
    interval_seconds = 5.0

    async def _run(self) -> None:
        while not self.stopping:
            if PROCESS is not None:
                PROCESS.refresh()
            await self.pause(self.interval_seconds)
