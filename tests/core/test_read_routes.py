"""The read path is named by the route (ADR 0007): a route that names the read session gets one that
refuses writes, every other route a writing one, whatever its HTTP method, and the request's
dependencies (the guard's too) share that one session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text, update

from shop.bootstrap import create_app
from shop.core.db import (
    READS_ONLY,
    Database,
    ReadSessionDep,
    SessionDep,
    get_read_session,
    get_session,
    is_read_session,
)
from shop.localization.models import Language
from tests.support.app import make_settings

# A GET that writes, as a browser's return from another site can only be (ADR 0010).
WRITING_GETS = {"/api/v1/auth/oidc/{provider}/callback"}


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def _uses(route: APIRoute, call: Any) -> bool:
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        if dependant.call is call:
            return True
        stack.extend(dependant.dependencies)
    return False


def test_every_get_that_reads_the_database_names_the_read_session() -> None:
    app = create_app(make_settings("postgresql+asyncpg://nobody@127.0.0.1:1/none", Path("/nonexistent")))
    reading = [
        (path, route)
        for path, route in _routes(app.routes)
        if "GET" in route.methods and _uses(route, get_session) and path not in WRITING_GETS
    ]
    assert {"/api/v1/profile", "/api/v1/auth/me"} <= {path for path, _ in reading}
    unnamed = sorted(path for path, route in reading if not _uses(route, get_read_session))
    assert not unnamed, unnamed


@pytest.fixture
async def probe(db: Database) -> Any:
    app = FastAPI()
    app.state.database = db

    @app.get("/reads")
    async def reads(session: ReadSessionDep, same: SessionDep) -> dict[str, bool]:
        return {"read": is_read_session(session), "shared": session is same}

    @app.get("/writes")
    async def writes(session: SessionDep) -> dict[str, bool]:
        return {"read": is_read_session(session), "shared": True}

    # As the contexts' routes are: in a router the app includes, naming it among `dependencies`.
    included = APIRouter()

    @included.get("/reads", dependencies=[READS_ONLY])
    async def included_reads(session: SessionDep) -> dict[str, bool]:
        return {"read": is_read_session(session), "shared": True}

    app.include_router(included, prefix="/included")

    @app.get("/reads-then-writes")
    async def reads_then_writes(session: ReadSessionDep) -> None:
        await session.execute(text("SELECT 1"))
        await session.execute(update(Language).where(Language.code == "xx").values(is_active=False))

    return app


async def test_the_route_not_the_method_chooses_the_session(probe: Any) -> None:
    transport = httpx.ASGITransport(app=probe, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/reads")).json() == {"read": True, "shared": True}
        assert (await client.get("/writes")).json() == {"read": False, "shared": True}
        assert (await client.get("/included/reads")).json() == {"read": True, "shared": True}


async def test_a_read_route_cannot_write(probe: Any) -> None:
    transport = httpx.ASGITransport(app=probe, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(RuntimeError, match="must not write"):
            await client.get("/reads-then-writes")
