"""Fixtures of the operations tests."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from tests.support.databases import create_database, drop_database


@pytest.fixture
async def empty_database(server_url: str, worker_id: str) -> AsyncIterator[str]:
    """An empty database of the test's own (the `shop serve` under test migrates it); dropped after."""
    name = f"shop_ops_{worker_id}_{secrets.token_hex(4)}"
    url = await create_database(server_url, name)
    try:
        yield url
    finally:
        await drop_database(server_url, name)
