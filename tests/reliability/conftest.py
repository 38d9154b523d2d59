"""Fixtures of the reliability tests: empty databases of their own (a `shop serve` migrates them)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

NewDatabase = Callable[[], Awaitable[str]]


async def _create(server_url: str, name: str) -> str:
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _drop(server_url: str, name: str) -> None:
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture
async def new_database(server_url: str, worker_id: str) -> AsyncIterator[NewDatabase]:
    """Make empty databases on the test server (not migrated); dropped after the test."""
    names: list[str] = []

    async def make() -> str:
        name = f"shop_rel_{worker_id}_{secrets.token_hex(4)}"
        names.append(name)
        return await _create(server_url, name)

    yield make
    for name in names:
        await _drop(server_url, name)
