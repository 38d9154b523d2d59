"""Apps for tests: their settings, an HTTP client, and cleaning up what live apps leave."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.core.config import Settings

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
