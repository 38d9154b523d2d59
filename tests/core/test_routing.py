"""The app's routes, flat, and `PathIndex`: a request finds the route FastAPI's own scan would find."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

from shop.bootstrap import create_app
from shop.core.routing import PathIndex, add_routes, install_path_index
from tests.support.app import make_settings


def _scope(app: FastAPI, path: str, method: str, *, routed: bool = True) -> Scope:
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
        "app": app,
    }
    if routed:  # as the app's router names itself before it matches
        scope["router"] = app.router
    return scope


def _scanned(app: FastAPI, scope: Scope) -> BaseRoute | None:
    """The route FastAPI's router would take, trying every route but the index in turn."""
    partial = None
    for route in app.router.routes:
        if isinstance(route, PathIndex):
            continue
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def _indexed(app: FastAPI, scope: Scope) -> BaseRoute | None:
    index = app.router.routes[0]
    assert isinstance(index, PathIndex)
    match, child_scope = index.matches(scope)
    if match is Match.NONE:
        return None
    assert match is Match.FULL
    return child_scope["shop.matched_route"]  # type: ignore[no-any-return]


def test_every_route_of_shop_is_its_own_and_found_as_the_scan_finds_it(tmp_path: Path) -> None:
    app = create_app(make_settings("postgresql+asyncpg://nowhere/none", tmp_path), run_background_loops=False)
    routes = [route for route in app.router.routes if isinstance(route, Route)]
    # No included router is left: every route matches on its own, with its whole path.
    assert all(type(route).__name__ != "_IncludedRouter" for route in app.router.routes)
    assert any(route.path == "/api/v1/auth/me" for route in routes)
    indexed = 0
    for route in routes:
        if route.param_convertors:
            continue
        for method in sorted(route.methods or ()):
            scope = _scope(app, route.path, method)
            scanned = _scanned(app, scope)
            found = _indexed(app, scope)
            assert found is scanned, (method, route.path)
            indexed += 1
    assert indexed > 60


@pytest.fixture
def small_app() -> FastAPI:
    """A parameter route before a fixed one it also matches, a mount over a fixed path, and two
    methods on one path."""
    app = FastAPI()
    router = APIRouter(prefix="/api")

    @router.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"item": item_id}

    @router.get("/items/special")
    async def special() -> dict[str, str]:  # never reached: the route above matches first
        return {"item": "special route"}

    @router.get("/things")
    async def things() -> dict[str, str]:
        return {"things": "listed"}

    @router.delete("/things")
    async def no_things() -> dict[str, str]:
        return {"things": "deleted"}

    @router.get("/files/readme")
    async def readme() -> dict[str, str]:  # behind the mount below, which takes every /files path
        return {"file": "route"}

    add_routes(app.router, router)
    readme_at = next(
        i for i, r in enumerate(app.router.routes) if getattr(r, "path", "") == "/api/files/readme"
    )
    app.router.routes.insert(readme_at, Mount("/api/files", app=_mounted))
    install_path_index(app)
    return app


async def _mounted(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"mounted"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/items/special"),
        ("GET", "/api/things"),
        ("DELETE", "/api/things"),
        ("POST", "/api/things"),
        ("GET", "/api/files/readme"),
        ("GET", "/api/items/7"),
        ("GET", "/nowhere"),
    ],
)
def test_the_index_chooses_what_the_scan_chooses(small_app: FastAPI, method: str, path: str) -> None:
    scope = _scope(small_app, path, method)
    found = _indexed(small_app, scope)
    scanned = _scanned(small_app, scope)
    # The index answers only a full match; where it stands aside, the scan decides alone.
    assert found is None or found is scanned
    if (method, path) in {("GET", "/api/things"), ("DELETE", "/api/things")}:
        assert found is not None


async def test_answers_through_the_index_are_the_scans(small_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=small_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/api/items/special")).json() == {"item": "special"}
        assert (await client.get("/api/things")).json() == {"things": "listed"}
        assert (await client.delete("/api/things")).json() == {"things": "deleted"}
        assert (await client.post("/api/things")).status_code == 405
        assert (await client.get("/api/files/readme")).text == "mounted"
        assert (await client.get("/api/items/7")).json() == {"item": "7"}
        assert (await client.get("/nowhere")).status_code == 404


def test_the_index_stands_aside_for_whoever_else_walks_the_routes(small_app: FastAPI) -> None:
    """OpenTelemetry names a request's span by matching the app's routes itself, before routing: the
    index must not answer it, or the span would lose the route's path."""
    assert _indexed(small_app, _scope(small_app, "/api/things", "GET", routed=False)) is None
    assert _indexed(small_app, _scope(small_app, "/api/things", "GET")) is not None


def test_a_router_of_included_routers_cannot_be_added_flat() -> None:
    inner, outer = APIRouter(), APIRouter()

    @inner.get("/inner")
    async def inner_route() -> None:
        return None

    outer.include_router(inner, prefix="/lost")
    with pytest.raises(TypeError, match="whole path"):
        add_routes(FastAPI().router, outer)
