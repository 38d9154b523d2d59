"""The ceilings, on the same server stack as shop (uvicorn, same loop and HTTP parser):

- `GET /hello`: a bare FastAPI endpoint (the framework's ceiling);
- `GET /row/{user_id}`: the usual way to read one row: an `AsyncSession` from an ordinary
  `async_sessionmaker` and `session.get` by primary key (the database ceiling). The table is shop's
  `auth.users`, reflected, so the row is the one `GET /api/v1/auth/me` reads.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import registry


class User:
    """Mapped at startup onto the reflected table."""

    id: uuid.UUID
    email: str


POOL = int(os.environ.get("BENCH_POOL_SIZE", "5"))
engine = create_async_engine(os.environ["BENCH_DATABASE_URL"], pool_size=POOL, max_overflow=POOL)
sessions = async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    metadata = MetaData()
    async with engine.connect() as connection:
        table = await connection.run_sync(
            lambda sync: Table("users", metadata, schema="auth", autoload_with=sync)
        )
    registry().map_imperatively(User, table)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}


@app.get("/row/{user_id}")
async def row(user_id: uuid.UUID) -> dict[str, Any]:
    async with sessions() as session:
        user = await session.get(User, user_id)
        if user is None:
            raise HTTPException(404)
        return {
            "id": user.id,
            "email": user.email,
            "email_verified": user.email_verified,  # type: ignore[attr-defined]
            "is_active": user.is_active,  # type: ignore[attr-defined]
            "role": user.role,  # type: ignore[attr-defined]
            "created_at": user.created_at,  # type: ignore[attr-defined]
            "last_login_at": user.last_login_at,  # type: ignore[attr-defined]
        }
