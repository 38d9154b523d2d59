"""Fixtures of the operations tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.databases import temporary_database


@pytest.fixture
async def empty_database(server_url: str, worker_id: str) -> AsyncIterator[str]:
    """An empty database of the test's own (the `shop serve` under test migrates it); dropped after."""
    async with temporary_database(server_url, f"shop_ops_{worker_id}") as url:
        yield url
