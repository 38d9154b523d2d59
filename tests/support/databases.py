"""Databases of their own on the test server: the session's (migrated by the conftest) and empty
ones for tests that start `shop serve` (it migrates them) or restore a backup into them; one SQL
statement from a synchronous test."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

NewDatabase = Callable[[], Awaitable[str]]


async def _as_admin(server_url: str, statement: str) -> None:
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await admin.dispose()


async def create_database(server_url: str, name: str) -> str:
    """A new, empty database `name`: its URL."""
    await _as_admin(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, name: str) -> None:
    await _as_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def temporary_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """The URL of a new, empty database named `prefix` and a random tail; dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    url = await create_database(server_url, name)
    try:
        yield url
    finally:
        await drop_database(server_url, name)


@asynccontextmanager
async def database_factory(server_url: str, prefix: str) -> AsyncIterator[NewDatabase]:
    """`await make()` as often as a test needs: each a `temporary_database`, all dropped afterwards."""
    async with AsyncExitStack() as stack:

        async def make() -> str:
            return await stack.enter_async_context(temporary_database(server_url, prefix))

        yield make


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of one SQL statement, from a synchronous test (its own short-lived engine)."""

    async def run() -> list[tuple[Any, ...]]:
        engine = create_async_engine(url, poolclass=None)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(sql), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    # A thread of its own: the calling test may be async, with its event loop running here.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()
