"""Database plumbing: declarative Base with stable constraint names, engine, one session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def schemas() -> set[str]:
    """The schemas of every table registered on the metadata (import the models first)."""
    return {table.schema for table in Base.metadata.tables.values() if table.schema is not None}


class Database:
    """The engine and the session factory of one app (or one test)."""

    def __init__(self, engine: AsyncEngine, bind: AsyncConnection | None = None) -> None:
        self.engine = engine
        # Tests bind sessions to one connection whose transaction is rolled back afterwards.
        self.sessions = async_sessionmaker(
            bind=bind or engine,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10) -> Database:
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,  # recover without a restart when PostgreSQL comes back
            hide_parameters=True,  # errors must not carry hashes or emails into the logs
            pool_recycle=1800,
            pool_timeout=10,
            connect_args={"timeout": 5, "command_timeout": 30},
        )
        return cls(engine)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A short transaction of its own, committed when the block ends without an error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request: commit on success, roll back on any error."""
    database: Database = request.app.state.database
    async with database.sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


# scope="function": the commit happens before the response is sent, so a failed commit is an
# error response, never a success answer for data that was not written.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
