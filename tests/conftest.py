"""Test fixtures: a real PostgreSQL (TEST_DATABASE_URL, else the embedded one), one fresh database
per test run (per xdist worker), migrated by Alembic.

Two ways to drive the app:
- `client`: each test inside one transaction that is rolled back afterwards (fast, isolated);
- `live_client`: the app on its own connection pool, for tests that need real concurrency or the
  mail sender; the rows it leaves are truncated afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shop.bootstrap import create_app
from shop.core.config import Settings
from shop.core.db import Database
from shop.core.embedded import EmbeddedPostgres
from shop.core.migrate import run_alembic
from tests.support.app import http_client, make_settings, truncate_mutable
from tests.support.net import STARTUP_SECONDS
from tests.support.smtp import SmtpSink

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """URL of a PostgreSQL server whose user may create databases."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured.replace("postgresql://", "postgresql+asyncpg://", 1)
        return
    embedded = EmbeddedPostgres(ROOT / ".data" / "test")
    url = embedded.start()
    try:
        yield url
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
async def database_url(server_url: str, worker_id: str) -> AsyncIterator[str]:
    name = f"shop_test_{worker_id}_{secrets.token_hex(4)}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        await run_alembic(url, "upgrade", "head")
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=30, max_overflow=10)
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[Database]:
    """A Database whose sessions all join one transaction, rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield Database(engine, bind=connection)
        finally:
            await transaction.rollback()


@pytest.fixture
async def app(settings: Settings, db: Database) -> AsyncIterator[Any]:
    application = create_app(settings, database=db, run_background_loops=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as client:
        yield client


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
async def live_app(
    database_url: str, engine: AsyncEngine, tmp_path: Path, smtp: SmtpSink
) -> AsyncIterator[Any]:
    """The app with its own pool and a running mail sender pointed at the test SMTP server."""
    settings = make_settings(database_url, tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port)
    # The concurrency tests send a burst of requests: up to 20 open a connection at once, which on
    # a loaded machine may take longer than production's connect timeout (a 503: PostgreSQL looks
    # unreachable), and 5 more queue for a checkout while those wait for a row lock, as long as
    # that takes (a 503: the pool is busy, tests/core/test_outage.py). Both depend on the
    # machine's load, not on shop: here both waits are safety nets against a hang only.
    database = Database.from_url(
        database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=STARTUP_SECONDS,
        connect_timeout=STARTUP_SECONDS,
    )
    application = create_app(settings, database=database)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await database.dispose()
        await truncate_mutable(engine)


@pytest.fixture
async def live_client(live_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(live_app) as client:
        yield client
