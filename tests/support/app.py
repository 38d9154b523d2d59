"""Apps for tests: their settings, building and running one in-process, an HTTP client, and cleaning
up what live apps leave."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.auth.passwords import PasswordHasher
from shop.bootstrap import bootstrap, create_app
from shop.core.config import Settings
from shop.core.db import Database
from tests.support.net import STARTUP_SECONDS

# Tables whose rows tests create; reference data (languages, currencies) stays.
MUTABLE_SCHEMAS = ("auth", "users", "mail", "webhooks")
MUTABLE_TABLES = ("localization.exchange_rates",)


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "data_dir": data_dir,
        "jwt_secret_key": "test-secret-" + "x" * 40,
        # Cheap hashing keeps the suite fast; the benchmark measures the real parameters.
        "argon2_memory_cost": 1024,
        "argon2_time_cost": 1,
        "mail_poll_seconds": 0.05,
        "mail_retry_base_seconds": 0.1,
        "public_url": "http://shop.test",
        # The SMTP sink of tests/support/smtp.py speaks plain SMTP; tests/core/test_smtp_tls.py
        # covers TLS.
        "smtp_tls": "none",
        # Every test comes from one address; the rate-limit tests turn limits back on.
        "rate_limit_enabled": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def http_client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("203.0.113.7", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://shop.test")


async def truncate_mutable(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        rows = await connection.execute(
            text("SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname = ANY(:schemas)"),
            {"schemas": list(MUTABLE_SCHEMAS)},
        )
        tables = [row[0] for row in rows]
        for table in MUTABLE_TABLES:
            if await connection.scalar(text("SELECT to_regclass(:t)"), {"t": table}) is not None:
                tables.append(table)
        if tables:
            await connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))


# `async with app_with(**settings) as app` (the conftest's fixture; see `running_app`).
AppWith = Callable[..., AbstractAsyncContextManager[Any]]

# Where nothing listens: an app built only to read its routes or its OpenAPI document.
NOWHERE = "postgresql+asyncpg://nobody@127.0.0.1:1/none"


def offline_app() -> Any:
    """The app with default test settings, never started: its routes and OpenAPI document."""
    return create_app(make_settings(NOWHERE, Path("/nonexistent")))


@asynccontextmanager
async def running_app(
    settings: Settings,
    database: Database | None,
    *,
    live: bool = False,
    loops: bool = False,
    clock: Callable[[], float] | None = None,
    hasher: PasswordHasher | None = None,
    clean: AsyncEngine | None = None,
    lifespan: bool = True,
) -> AsyncIterator[Any]:
    """The app with `settings`, its lifespan running (unless not `lifespan`: built only).

    `database`: the rolled-back test transaction's (the `db` fixture) or one of the test's own; with
    `live` and none, a pool of its own on `settings.database_url`, disposed afterwards. `loops`: the
    background loops (mail sender, upkeep, dispatcher) run. `clock`, `hasher`: bootstrap's stand-ins.
    `clean`: the rows the app leaves are truncated through this engine afterwards."""
    owned = None
    if database is None and live:
        # A burst of concurrent requests on a loaded machine may wait longer for a connection than
        # production's timeouts allow (a 503 that depends on the machine, not on shop): here both
        # waits are safety nets against a hang only.
        owned = database = Database.from_url(
            str(settings.database_url),
            pool_size=settings.db_pool_size,
            pool_timeout=STARTUP_SECONDS,
            connect_timeout=STARTUP_SECONDS,
        )
    application = create_app(
        database=database, run_background_loops=loops, shop=bootstrap(settings, clock=clock, hasher=hasher)
    )
    try:
        if lifespan:
            async with application.router.lifespan_context(application):
                yield application
        else:
            yield application
    finally:
        if owned is not None:
            await owned.dispose()
        if clean is not None:
            await truncate_mutable(clean)
