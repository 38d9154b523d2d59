"""Traces: with OTEL_EXPORTER_OTLP_ENDPOINT, a real `shop serve` exports over OTLP/HTTP a span per
request with its database statements under it, each naming the request id; unset, OpenTelemetry is
not even imported."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.auth import PASSWORD
from tests.support.net import free_port
from tests.support.serve import ShopServer
from tests.support.smtp import SmtpSink
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

REQUEST_ID = "trace-test-0123456789"


class Receiver:
    """An OTLP/HTTP trace receiver on loopback: every span it was sent, decoded from protobuf."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                assert self.path == "/v1/traces", self.path
                request = ExportTraceServiceRequest.FromString(body)
                with receiver.lock:
                    for resource in request.resource_spans:
                        for scope in resource.scope_spans:
                            for span in scope.spans:
                                receiver.spans.append(
                                    {
                                        "name": span.name,
                                        "trace_id": span.trace_id.hex(),
                                        "span_id": span.span_id.hex(),
                                        "parent": span.parent_span_id.hex(),
                                        "scope": scope.scope.name,
                                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                                    }
                                )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, found: Any, timeout: float = 30) -> list[dict[str, Any]]:
        def spans() -> list[dict[str, Any]] | None:
            with self.lock:
                received = list(self.spans)
            return received if found(received) else None

        return wait_until(spans, lambda: json.dumps(self.spans, indent=1)[:5000], timeout)


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiving = Receiver()
    yield receiving
    receiving.server.shutdown()


def test_a_request_span_has_its_database_spans_under_it(
    tmp_path: Path, empty_database: str, receiver: Receiver, smtp: SmtpSink
) -> None:
    server = ShopServer(
        tmp_path / "data",
        newcomer=True,
        DATABASE_URL=empty_database,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        SMTP_TLS="none",
        MAIL_POLL_SECONDS="0.1",
    ).start_ready()
    try:
        response = httpx.post(
            f"{server.url}/api/v1/auth/register",
            json={"email": "traced@example.com", "password": PASSWORD, "confirm_password": PASSWORD},
            headers={"X-Request-ID": REQUEST_ID},
            timeout=30,
        )
        assert response.status_code == 201, response.text

        def requested(spans: list[dict[str, Any]]) -> bool:
            return (
                any(s["attributes"].get("shop.request_id") == REQUEST_ID and s["parent"] == "" for s in spans)
                and any(s["scope"].endswith("asyncpg") for s in spans)
                and any(s["name"] == "smtp send" for s in spans)
            )

        spans = receiver.wait_for(requested)
    finally:
        code, output = server.stop(), server.output()
    assert code == 0, output
    root = next(
        s for s in spans if s["attributes"].get("shop.request_id") == REQUEST_ID and s["parent"] == ""
    )
    assert root["name"] == "POST /api/v1/auth/register"
    assert root["attributes"]["http.route"] == "/api/v1/auth/register"
    by_id = {s["span_id"]: s for s in spans}

    def under_root(span: dict[str, Any]) -> bool:
        while span["parent"]:
            if span["parent"] == root["span_id"]:
                return True
            span = by_id[span["parent"]]
        return False

    statements = [s for s in spans if s["trace_id"] == root["trace_id"] and s["scope"].endswith("asyncpg")]
    assert len(statements) >= 2, spans  # the account's look-up and its insert, at least
    assert all(under_root(s) for s in statements)
    assert all(s["attributes"]["shop.request_id"] == REQUEST_ID for s in statements)
    assert any("INSERT" in str(s["attributes"].get("db.statement", s["name"])) for s in statements)
    # The SQL with its placeholders, never the values (the email, the password hash).
    assert "traced@example.com" not in json.dumps(spans)
    # The verification mail, handed to SMTP by the background sender (no request under way there).
    mail = next(s for s in spans if s["name"] == "smtp send")
    assert mail["attributes"]["server.port"] == smtp.port


PROBE = """
import json, sys
import shop.main
from opentelemetry import trace
loaded = [m for m in sys.modules if m.startswith(("opentelemetry.exporter", "opentelemetry.instrumentation"))]
print(json.dumps({"loaded": loaded, "provider": type(trace.get_tracer_provider()).__name__}))
"""


def test_unset_no_exporter_and_no_instrumentation_is_loaded(tmp_path: Path) -> None:
    # FastAPI itself needs the OpenTelemetry API, and redis looks for the SDK: neither does anything
    # while no tracer provider is configured. shop then loads no exporter, no instrumentation, and
    # configures no provider (FastAPI's own telemetry stays off too).
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(DATA_DIR=str(tmp_path), DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(result.stdout)
    assert found == {"loaded": [], "provider": "ProxyTracerProvider"}
    # The same probe with an endpoint does load them (the probe can fail).
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
    traced = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(traced.stdout)["loaded"]
