"""Operations: request metrics by full route template, process and runtime metrics, the outbox's
backlog and oldest age, and log records that name the request and the user."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Histogram
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.core.logging import RequestContextFilter
from shop.core.mail.sender import MailSender
from shop.core.metrics import REGISTRY, observe_all
from tests.support.app import AppWith, http_client
from tests.support.auth import bearer, login, register, register_verified
from tests.support.net import free_port


def samples(metrics: str, name: str) -> dict[str, float]:
    """The samples of one metric: label set (as written) → value."""
    found: dict[str, float] = {}
    for line in metrics.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(\{{.*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


async def metrics_text(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_are_counted_by_full_route_template(client: httpx.AsyncClient) -> None:
    address = uuid.uuid4()
    await client.get(f"/api/v1/addresses/{address}")  # 401, but the route matched
    await client.get("/api/v1/auth/me")
    await client.get("/openapi.json")
    await client.get("/docs-assets/favicon.png")
    await client.get(f"/no/such/{address}")
    metrics = await metrics_text(client)
    counted = samples(metrics, "shop_http_requests_total")
    expected = {
        '{method="GET",route="/api/v1/addresses/{address_id}",status="401"}',
        '{method="GET",route="/api/v1/auth/me",status="401"}',
        '{method="GET",route="/openapi.json",status="200"}',
        '{method="GET",route="/docs-assets/{path}",status="200"}',
        '{method="GET",route="<unmatched>",status="404"}',
    }
    assert expected <= set(counted), sorted(counted)
    # No raw path (nor a prefix-less template) ever becomes a label.
    assert str(address) not in metrics
    assert 'route="/me"' not in metrics and 'route="/addresses/{address_id}"' not in metrics
    latency = samples(metrics, "shop_http_request_duration_seconds_count")
    assert '{method="GET",route="/api/v1/addresses/{address_id}"}' in latency


async def test_process_and_runtime_metrics(client: httpx.AsyncClient) -> None:
    metrics = await metrics_text(client)
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"):
        assert samples(metrics, name), name
    assert samples(metrics, "python_info")
    assert samples(metrics, "python_gc_objects_collected_total")


async def test_login_outcomes_and_lockouts_are_counted(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    before = samples(await metrics_text(client), "shop_logins_total")
    await login(client, email)
    for _ in range(5):
        await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong password!"})
    after = samples(await metrics_text(client), "shop_logins_total")

    def grew(outcome: str) -> float:
        key = f'{{outcome="{outcome}"}}'
        return after.get(key, 0) - before.get(key, 0)

    assert grew("success") == 1 and grew("invalid_credentials") == 4 and grew("locked") == 1
    assert samples(await metrics_text(client), "shop_lockouts_total")[""] >= 1


async def test_outbox_backlog_and_oldest_pending_age(app_with: AppWith, engine: AsyncEngine) -> None:
    # SMTP is down (nothing listens): the mail waits, and the metrics say how many and how long.
    async with (
        app_with(live=True, smtp_host="127.0.0.1", smtp_port=free_port()) as app,
        http_client(app) as client,
    ):
        settings = app.state.settings
        await register(client)
        sender = MailSender(settings, app.state.database)
        assert await sender.drain_once() == 0
        metrics = await metrics_text(client)
        assert samples(metrics, "shop_mail_outbox_backlog")[""] == 1
        assert samples(metrics, "shop_mail_outbox_oldest_pending_age_seconds")[""] > 0

        async with engine.begin() as connection:
            await connection.execute(text("UPDATE mail.outbox SET sent_at = now()"))
        await sender.drain_once()
        metrics = await metrics_text(client)
        assert samples(metrics, "shop_mail_outbox_backlog")[""] == 0
        assert samples(metrics, "shop_mail_outbox_oldest_pending_age_seconds")[""] == 0


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records() -> Iterator[list[logging.LogRecord]]:
    handler = Collect()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_log_records_name_the_request_and_the_user(
    client: httpx.AsyncClient, app: Any, log_records: list[logging.LogRecord]
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    user_id = pair["user"]["id"]
    log_records.clear()

    me = await client.get("/api/v1/auth/me", headers={**bearer(pair), "X-Request-ID": "trace-me-1"})
    assert me.headers["x-request-id"] == "trace-me-1"
    (line,) = [r for r in log_records if r.getMessage() == "request"]
    assert line.__dict__["request_id"] == "trace-me-1"
    assert line.__dict__["user_id"] == user_id
    assert line.__dict__["route"] == "/api/v1/auth/me" and line.__dict__["status"] == 200

    # Any logger's record made during a request gets its id, and the user once known.
    @app.get("/log-something")
    async def log_something() -> dict[str, str]:
        logging.getLogger("somewhere.else").warning("inside a request")
        return {}

    log_records.clear()
    await client.get("/log-something", headers={"X-Request-ID": "trace-2"})
    (inside,) = [r for r in log_records if r.getMessage() == "inside a request"]
    assert inside.__dict__["request_id"] == "trace-2" and "user_id" not in inside.__dict__

    # Outside a request, no request id.
    logging.getLogger("somewhere.else").warning("between requests")
    (between,) = [r for r in log_records if r.getMessage() == "between requests"]
    assert "request_id" not in between.__dict__

    # A sign-in names its user in the request's line.
    log_records.clear()
    await client.post("/api/v1/auth/login", json={"email": email, "password": "correct horse battery staple"})
    (signed_in,) = [r for r in log_records if r.getMessage() == "request"]
    assert signed_in.__dict__["user_id"] == user_id


async def test_the_operations_guide_names_real_metrics(client: httpx.AsyncClient) -> None:
    """docs/OPERATIONS.md: its scrape config and alert rules parse, and name metrics /metrics has."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    scrape, alerts = (yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", guide, re.S))
    (job,) = scrape["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    rules = alerts["groups"][0]["rules"]
    assert {rule["alert"] for rule in rules} == {
        "ShopServerErrors",
        "ShopMailOutboxStuck",
        "ShopLockoutSpike",
    }
    metrics = await metrics_text(client)
    named = {name for rule in rules for name in re.findall(r"\b(shop_[a-z_]+)", rule["expr"])}
    named |= set(re.findall(r"`(shop_[a-z_]+)`", guide))
    assert named and all(f" {name} " in metrics for name in named), named


def test_observations_written_together_are_those_of_observe() -> None:
    """`observe_all` (the request metrics of one event-loop turn at once) leaves a histogram as one
    `observe` per value would: each bucket (the bounds themselves included), the count and the sum."""
    values = [0.001, 0.002, 0.002, 0.0049, 0.005, 0.3, 2.5, 7.0, 1e9]
    one_by_one, together = CollectorRegistry(), CollectorRegistry()
    buckets = (0.002, 0.005, 0.01, 0.25, 0.5, 2.5, 5)
    first = Histogram("h", "h", ["route"], registry=one_by_one, buckets=buckets).labels("/x")
    for value in values:
        first.observe(value)
    observe_all(Histogram("h", "h", ["route"], registry=together, buckets=buckets).labels("/x"), values)

    def written(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
        return [
            (sample.name, sample.labels, sample.value)
            for sample in next(iter(registry.collect())).samples
            if not sample.name.endswith("_created")  # when each was made
        ]

    assert written(together) == written(one_by_one)
    assert together.get_sample_value("h_bucket", {"route": "/x", "le": "0.002"}) == 3
    assert together.get_sample_value("h_count", {"route": "/x"}) == len(values)


async def test_request_metrics_wait_for_the_end_of_the_turn_or_a_scrape(client: httpx.AsyncClient) -> None:
    labels = {"method": "GET", "route": "/api/v1/languages", "status": "200"}
    before = samples(await metrics_text(client), "shop_http_requests_total")
    key = '{method="GET",route="/api/v1/languages",status="200"}'
    assert (await client.get("/api/v1/languages")).status_code == 200
    waiting = REGISTRY.get_sample_value("shop_http_requests_total", labels) or 0.0
    await asyncio.sleep(0)  # the turn ends
    assert REGISTRY.get_sample_value("shop_http_requests_total", labels) == before.get(key, 0.0) + 1
    assert waiting in (before.get(key, 0.0), before.get(key, 0.0) + 1)
    assert (await client.get("/api/v1/languages")).status_code == 200
    assert samples(await metrics_text(client), "shop_http_requests_total")[key] == before.get(key, 0.0) + 2
