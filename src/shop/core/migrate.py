"""Alembic, driven from code: `shop migrate`, `shop serve` and the tests share this."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from shop.core.db import POOLER_SAFE

# Any fixed number: instances that start together take turns instead of racing the same DDL.
_MIGRATION_LOCK_ID = 0x5_40_9_0001


def alembic_config() -> Config:
    """The migrations travel inside the package: no alembic.ini, no checkout needed."""
    config = Config()
    config.set_main_option("script_location", "shop:migrations")
    config.set_main_option("path_separator", "os")
    return config


class DatabaseUnavailable(Exception):
    """The database cannot be reached or entered at all (no server there, refused credentials, a
    database that does not exist): said in one line by the commands, not as a driver's traceback."""


async def _connect(engine: AsyncEngine) -> AsyncConnection:
    try:
        return await engine.connect()
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot reach the database (DATABASE_URL): {exc}") from exc
    except DBAPIError as exc:
        # The server answered and refused: asyncpg's own message names what ("database "x" does
        # not exist", "password authentication failed for user "y"").
        reason = str(exc.orig).strip() or type(exc.orig).__name__
        raise DatabaseUnavailable(f"cannot use the database (DATABASE_URL): {reason}") from exc


async def run_alembic(url: str, action: str, revision: str) -> None:
    """Run `upgrade` or `downgrade` to `revision` on the database at `url`."""
    config = alembic_config()

    def _go(connection: Connection) -> None:
        # The lock and every migration share one transaction (alembic joins it): the commit releases
        # a transaction-level lock by itself. A session lock would not survive a transaction-pooling
        # PgBouncer, where its unlock may run on another server connection and the lock stay behind.
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)
        connection.commit()

    engine = create_async_engine(url, connect_args=POOLER_SAFE)
    try:
        connection = await _connect(engine)
        try:
            await connection.run_sync(_go)
        finally:
            await connection.close()
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    engine = create_async_engine(url, connect_args=POOLER_SAFE)
    try:
        async with engine.connect() as connection:
            exists = await connection.scalar(text("SELECT to_regclass('public.alembic_version')"))
            if exists is None:
                return None
            value = await connection.scalar(text("SELECT version_num FROM public.alembic_version"))
            return str(value) if value is not None else None
    finally:
        await engine.dispose()
