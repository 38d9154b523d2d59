"""Fixtures of the reliability tests: empty databases of their own (a `shop serve` migrates them)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.databases import NewDatabase, database_factory


@pytest.fixture
async def new_database(server_url: str, worker_id: str) -> AsyncIterator[NewDatabase]:
    """Make empty databases on the test server (not migrated); dropped after the test."""
    async with database_factory(server_url, f"shop_rel_{worker_id}") as make:
        yield make
