"""Liveness, readiness and metrics endpoints (at the root, outside /api/v1)."""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from pydantic.config import JsonDict
from sqlalchemy import text

from shop.core.config import Settings
from shop.core.db import Database
from shop.core.errors import NotAuthenticated, NotFound, TokenInvalid
from shop.core.metrics import render_latest
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses

router = APIRouter(tags=["operations"], generate_unique_id_function=operation_ids("ops"))

CHECK_TIMEOUT_SECONDS = 3.0

Check = Literal["ok", "unavailable"]


class LiveStatus(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"]


READY: JsonDict = {"status": "ok", "database": "ok", "redis": "ok"}
NOT_READY: JsonDict = {"status": "unavailable", "database": "unavailable", "redis": "ok"}


class ReadyStatus(BaseModel):
    """Each dependency's state; `redis` only when REDIS_URL is set."""

    model_config = ConfigDict(json_schema_extra={"examples": [READY, NOT_READY]})

    status: Check
    database: Check
    redis: Check | None = None


METRICS_EXAMPLE = """\
# HELP shop_http_requests_total HTTP requests by method, route template and status.
# TYPE shop_http_requests_total counter
shop_http_requests_total{method="GET",route="/api/v1/languages",status="200"} 42.0
"""


# The scrape's credential when METRICS_TOKEN is set (not an access token of a user).
METRICS_BEARER = HTTPBearer(
    scheme_name="MetricsToken",
    description="METRICS_TOKEN, when the operator set one (else /metrics needs no credential outside "
    "production, and is public in production only with METRICS_PUBLIC=true).",
    auto_error=False,
)


# The one answer of /health/live, rendered once: orchestrators probe it often, and the bench
# measures it against a bare endpoint.
_LIVE = b'{"status":"ok"}'


@router.get("/health/live", summary="Liveness: the process runs", response_model=LiveStatus)
async def live() -> Response:
    """Answers as long as the process serves requests; it checks nothing else."""
    return Response(_LIVE, media_type="application/json")


async def _database_ok(database: Database) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


async def _redis_ok(client: Any) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await client.ping()
    except Exception:
        return False
    return True


@router.get(
    "/health/ready",
    summary="Readiness: the database (and Redis, when configured) answer",
    response_model=ReadyStatus,
    responses={
        200: {"content": {"application/json": {"example": READY}}},
        503: {
            "model": ReadyStatus,
            "description": "A dependency is down; it is named in the body (not a problem: a status).",
            "content": {"application/json": {"example": NOT_READY}},
        },
    },
)
@router.get("/health", include_in_schema=False)
async def ready(request: Request) -> JSONResponse:
    """Ready to serve: 200 when every dependency answers within 3 seconds, else 503."""
    checks: dict[str, str] = {
        "database": "ok" if await _database_ok(request.app.state.database) else "unavailable"
    }
    redis = getattr(request.app.state, "redis", None)
    if redis is not None:
        checks["redis"] = "ok" if await _redis_ok(redis) else "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}, "example": METRICS_EXAMPLE}},
        },
        **problem_responses(NotAuthenticated, TokenInvalid, NotFound),
    },
)
async def metrics(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(METRICS_BEARER)]
) -> Response:
    """Every metric of the instance (all its worker processes), for a Prometheus scrape.

    With `METRICS_TOKEN` set, only `Authorization: Bearer <METRICS_TOKEN>` is answered (else 401).
    Without it, it answers in development and test, and in production only when
    `METRICS_PUBLIC=true` (else 404): sign-in and mail counters must not tell strangers which
    accounts exist."""
    _check_metrics_access(request.app.state.settings, credentials.credentials if credentials else None)
    body, content_type = render_latest()
    return Response(body, media_type=content_type)


def _check_metrics_access(settings: Settings, given: str | None) -> None:
    if settings.metrics_token is None:
        if not settings.metrics_open:
            raise NotFound()
        return
    if not given:
        raise NotAuthenticated("/metrics needs its token: Authorization: Bearer <METRICS_TOKEN>.")
    expected = settings.metrics_token.get_secret_value().encode()
    if not hmac.compare_digest(given.encode(), expected):
        raise TokenInvalid("This is not the metrics token.")
