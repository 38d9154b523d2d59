"""Fixtures of the webhooks tests: the app with its dispatcher running (its own pool, as `live_app`),
with settings for quick tries, and receivers on loopback that stop after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.bootstrap import create_app
from shop.core.db import Database
from tests.support.app import http_client, make_settings, truncate_mutable
from tests.support.net import STARTUP_SECONDS
from tests.support.webhooks import QUICK, HooksApp, Receiver


@pytest.fixture
def hooks_app_with(database_url: str, engine: AsyncEngine, tmp_path: Path) -> HooksApp:
    """`async with hooks_app_with(**settings) as app`: the app with its dispatcher, quick tries."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[Any]:
        settings = make_settings(database_url, tmp_path, **{**QUICK, **overrides})
        database = Database.from_url(
            database_url, pool_size=10, pool_timeout=STARTUP_SECONDS, connect_timeout=STARTUP_SECONDS
        )
        application = create_app(settings, database=database)
        try:
            async with application.router.lifespan_context(application):
                yield application
        finally:
            await database.dispose()
            await truncate_mutable(engine)

    return make


@pytest.fixture
async def hooks_app(hooks_app_with: HooksApp) -> AsyncIterator[Any]:
    async with hooks_app_with() as application:
        yield application


@pytest.fixture
async def hooks_client(hooks_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(hooks_app) as client:
        yield client


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    """`receivers(answer=...)`: a started receiver, stopped after the test."""
    started: list[Receiver] = []

    def start(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()
