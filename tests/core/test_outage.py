"""PostgreSQL goes away and comes back: 503 meanwhile, recovery without a restart. shop's own pool
exhausted: 503 too (busy, retry shortly), never a 500."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shop.core.db import Database
from shop.core.embedded import EmbeddedPostgres
from shop.core.migrate import run_alembic
from tests.support.app import AppWith, http_client
from tests.support.problems import assert_problem


async def test_database_outage_is_503_and_recovers(app_with: AppWith, tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "data")
    url = server.start()
    try:
        await run_alembic(url, "upgrade", "head")
        async with app_with(live=True, database_url=url) as app, http_client(app) as client:
            assert (await client.get("/api/v1/languages")).status_code == 200
            server.stop()  # nobody else uses it: the server really stops
            down = await client.get("/api/v1/languages")
            assert_problem(down, 503, "service_unavailable")
            ready = await client.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["database"] == "unavailable"
            assert (await client.get("/health/live")).status_code == 200
            assert server.start() == url  # same port again
            assert (await client.get("/api/v1/languages")).status_code == 200
            assert (await client.get("/health/ready")).status_code == 200
    finally:
        server.stop()


async def test_an_exhausted_pool_answers_503_with_retry_after(app_with: AppWith, database_url: str) -> None:
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        async with app_with(database=Database(engine)) as app, http_client(app) as client:
            async with engine.connect() as held:
                await held.execute(text("SELECT 1"))  # the pool's one connection stays taken
                busy = await client.get("/api/v1/languages")
            assert_problem(busy, 503, "service_unavailable")
            assert busy.headers["retry-after"] == "1"
            assert (await client.get("/api/v1/languages")).status_code == 200
    finally:
        await engine.dispose()
