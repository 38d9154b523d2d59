"""Test fixtures: a real PostgreSQL (TEST_DATABASE_URL, else the embedded one), one fresh database
per test run (per xdist worker), migrated by Alembic.

Two ways to drive the app:
- `client`: each test inside one transaction that is rolled back afterwards (fast, isolated);
- `live_client`: the app on its own connection pool, for tests that need real concurrency or the
  mail sender; the rows it leaves are truncated afterwards.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shop.auth.passwords import PasswordHasher
from shop.core.config import Settings
from shop.core.db import Database
from shop.core.embedded import EmbeddedPostgres
from shop.core.migrate import run_alembic
from tests.support.app import AppWith, http_client, make_settings, running_app
from tests.support.databases import temporary_database
from tests.support.mfa import Clock
from tests.support.smtp import SmtpSink, running_sink

ROOT = Path(__file__).resolve().parents[1]
# What the tests keep between runs (the embedded PostgreSQL when TEST_DATABASE_URL is unset).
TEST_DATA = ROOT / ".test-data"


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """URL of a PostgreSQL server whose user may create databases."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured.replace("postgresql://", "postgresql+asyncpg://", 1)
        return
    # Beside the developer's `.data`, never in it: `make test` leaves `make run`'s data alone.
    embedded = EmbeddedPostgres(TEST_DATA / "postgres")
    url = embedded.start()
    try:
        yield url
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
async def database_url(server_url: str, worker_id: str) -> AsyncIterator[str]:
    async with temporary_database(server_url, f"shop_test_{worker_id}") as url:
        await run_alembic(url, "upgrade", "head")
        yield url


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
def clock() -> Clock:
    """The time the server checks TOTP codes at, moved by the test (starts at the real time)."""
    return Clock()


@pytest.fixture
def app_with(database_url: str, engine: AsyncEngine, db: Database, tmp_path: Path, clock: Clock) -> AppWith:
    """`async with app_with(**overrides) as app`: the app with the test settings (`make_settings`)
    and `overrides`, or with `settings=`, on the test's clock, running. On the rolled-back `db`
    unless `live=True` (a pool of its own; the rows it leaves are truncated afterwards) or
    `database=` is given; `loops=True` runs the background loops; `hasher=` replaces the hasher; `lifespan=False` builds the app only."""

    @asynccontextmanager
    async def make(
        *,
        settings: Settings | None = None,
        live: bool = False,
        loops: bool = False,
        database: Database | None = None,
        hasher: PasswordHasher | None = None,
        lifespan: bool = True,
        **overrides: Any,
    ) -> AsyncIterator[Any]:
        assert settings is None or not overrides, "settings= or overrides, not both"
        if database is None and not live:
            database = db
        async with running_app(
            settings or make_settings(overrides.pop("database_url", database_url), tmp_path, **overrides),
            database,
            live=live,
            loops=loops,
            clock=clock,
            hasher=hasher,
            clean=engine if live else None,
            lifespan=lifespan,
        ) as application:
            yield application

    return make


@pytest.fixture
async def app(app_with: AppWith, settings: Settings) -> AsyncIterator[Any]:
    """The app on the test's rolled-back transaction, without background loops."""
    async with app_with(settings=settings) as application:
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as client:
        yield client


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with running_sink() as sink:
        yield sink


@pytest.fixture
async def live_app(app_with: AppWith, smtp: SmtpSink) -> AsyncIterator[Any]:
    """The app with its own pool and a running mail sender pointed at the test SMTP server."""
    async with app_with(live=True, loops=True, smtp_host="127.0.0.1", smtp_port=smtp.port) as application:
        yield application


@pytest.fixture
async def live_client(live_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(live_app) as client:
        yield client
