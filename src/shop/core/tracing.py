"""Traces (OpenTelemetry), only when an operator asks for them.

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, each worker
exports over OTLP/HTTP a span per request (FastAPI's instrumentation), per database statement
(asyncpg's, at the driver, so that statements run through SQLAlchemy and HotRead's own prepared
statements alike are seen, each once), per outgoing HTTP call (httpx's, and the webhook
dispatcher's own span, `send_span`) and per SMTP hand-over (the mail sender's own span,
`smtp_span`). Every span started while a request is under way carries its `X-Request-ID` as the
attribute `shop.request_id`. The other standard `OTEL_*` variables
(`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
`OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, …) are read by the SDK itself.

Unset, nothing of OpenTelemetry is imported: no exporter, no instrumentation, no cost (this
module's own helpers test one global and return).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from shop.core.logging import current_context

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider

REQUEST_ID_ATTRIBUTE = "shop.request_id"
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

# Set by `install_tracing` in a worker that exports; None everywhere else.
_provider: TracerProvider | None = None


def tracing_requested() -> bool:
    return any(os.environ.get(name, "").strip() for name in _ENDPOINTS)


def install_tracing(app: FastAPI) -> bool:
    """Instrument this process and `app` when an OTLP endpoint is configured; say whether it did."""
    global _provider
    if not tracing_requested():
        return False
    if _provider is None:
        _provider = _build_provider()
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        # ASGI's per-message `send`/`receive` spans say nothing an operator needs.
        exclude_spans=["receive", "send"],
    )
    return True


def _build_provider() -> TracerProvider:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "shop"}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(_request_id_processor())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    return provider


def _request_id_processor() -> SpanProcessor:
    from opentelemetry.sdk.trace import SpanProcessor

    class RequestIdProcessor(SpanProcessor):
        """Names the request under way on every span that starts during it (database statements,
        outgoing calls). The request's own span starts before the request id is known:
        `name_request` names it."""

        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            context = current_context()
            if context is not None:
                span.set_attribute(REQUEST_ID_ATTRIBUTE, context.request_id)

    return RequestIdProcessor()


def name_request(request_id: str) -> None:
    """Put the request id on the request's own span (the current one when the request middleware
    runs, as FastAPI's instrumentation wraps it)."""
    if _provider is None:
        return
    from opentelemetry import trace

    trace.get_current_span().set_attribute(REQUEST_ID_ATTRIBUTE, request_id)


def smtp_span(host: str, port: int) -> AbstractContextManager[Any]:
    """A span around one SMTP hand-over; a no-op when not tracing."""
    return send_span("smtp send", host, port)


def send_span(
    name: str, host: str, port: int, attributes: Mapping[str, Any] | None = None
) -> AbstractContextManager[Any]:
    """A span around one hand-over no instrumented client sees (an SMTP one, a webhook sent on
    httpcore's pool itself), with `attributes` beside the server's address; it yields the span, or
    None when not tracing (a no-op)."""
    if _provider is None:
        return contextlib.nullcontext()
    return _span(name, {"server.address": host, "server.port": port, **(attributes or {})})


@contextlib.contextmanager
def _span(name: str, attributes: dict[str, Any]) -> Iterator[Any]:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    tracer = trace.get_tracer("shop", tracer_provider=_provider)
    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes) as span:
        yield span


def shutdown_tracing() -> None:
    """Send what is buffered (a worker's last spans) before the process ends."""
    if _provider is not None:
        _provider.shutdown()
