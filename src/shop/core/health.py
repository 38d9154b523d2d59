"""Liveness, readiness and metrics endpoints (at the root, outside /api/v1)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shop.core.db import Database
from shop.core.metrics import render_latest
from shop.core.openapi import operation_ids

router = APIRouter(tags=["operations"], generate_unique_id_function=operation_ids("ops"))

CHECK_TIMEOUT_SECONDS = 3.0


@router.get("/health/live", summary="Liveness: the process runs")
async def live() -> dict[str, str]:
    return {"status": "ok"}


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
    responses={503: {"description": "A dependency is down; it is named in the body."}},
)
@router.get("/health", include_in_schema=False)
async def ready(request: Request) -> JSONResponse:
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


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    body, content_type = render_latest()
    return Response(body, media_type=content_type)
