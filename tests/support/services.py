"""Services without HTTP: the session a request would get, and the collaborators bootstrap builds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.tools import Client
from shop.core.db import Database

CLIENT = Client(ip="203.0.113.7", user_agent="service tests", accept_language="en")


@asynccontextmanager
async def request_session(database: Database) -> AsyncIterator[AsyncSession]:
    """A session as `get_session` gives a request: committed on success, rolled back on an error."""
    async with database.sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
