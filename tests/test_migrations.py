"""One Alembic history: upgrade from empty, downgrade to base, and no drift from the models."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import shop.auth.models
import shop.core.mail.outbox
import shop.localization.models
import shop.users.models  # noqa: F401
from shop.core.db import Base
from shop.core.db import schemas as schemas_of_metadata
from shop.core.migrate import current_revision, run_alembic
from tests.support.databases import temporary_database

SCHEMAS = {"auth", "users", "localization", "mail", "webhooks"}


@pytest.fixture
async def empty_database(server_url: str) -> AsyncIterator[str]:
    async with temporary_database(server_url, "shop_migrations") as url:
        yield url


async def schemas_and_tables(url: str) -> tuple[set[str], set[str]]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        schemas = set(
            (
                await connection.scalars(
                    text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:s)"), {"s": list(SCHEMAS)}
                )
            ).all()
        )
        tables = set(
            (
                await connection.scalars(
                    text(
                        "SELECT schemaname || '.' || tablename FROM pg_tables "
                        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                    )
                )
            ).all()
        )
    await engine.dispose()
    return schemas, tables


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": lambda name, type_, _: name in SCHEMAS if type_ == "schema" else True,
            "compare_type": True,
            "compare_server_default": True,
        },
    )
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_downgrade_upgrade_and_no_drift(empty_database: str) -> None:
    await run_alembic(empty_database, "upgrade", "head")
    schemas, tables = await schemas_and_tables(empty_database)
    assert schemas == SCHEMAS == set(schemas_of_metadata())
    # Nothing in public but Alembic's version table.
    assert {t for t in tables if t.startswith("public.")} == {"public.alembic_version"}
    head = await current_revision(empty_database)
    assert head is not None

    await run_alembic(empty_database, "downgrade", "base")
    schemas, tables = await schemas_and_tables(empty_database)
    assert schemas == set()
    assert tables == {"public.alembic_version"}
    assert await current_revision(empty_database) is None

    await run_alembic(empty_database, "upgrade", "head")
    assert await current_revision(empty_database) == head

    engine = create_async_engine(empty_database)
    async with engine.connect() as connection:
        differences = await connection.run_sync(_diff)
    await engine.dispose()
    assert differences == [], differences
