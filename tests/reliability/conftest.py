"""Fixtures of the reliability tests: empty databases of their own (a `shop serve` migrates them)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from tests.support.databases import NewDatabase, create_database, drop_database


@pytest.fixture
async def new_database(server_url: str, worker_id: str) -> AsyncIterator[NewDatabase]:
    """Make empty databases on the test server (not migrated); dropped after the test."""
    names: list[str] = []

    async def make() -> str:
        name = f"shop_rel_{worker_id}_{secrets.token_hex(4)}"
        names.append(name)
        return await create_database(server_url, name)

    yield make
    for name in names:
        await drop_database(server_url, name)
