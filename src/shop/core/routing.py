"""How the app's routes are laid out and found: every route on the app itself, whole paths looked up.

FastAPI (0.150 and later) keeps an included router whole and matches a request through it level by
level, twice per level (once to choose the branch, once more to hand over), trying each route's
regex in turn. With shop's ninety routes that cost a request more than the rest of the
framework's work: 60 µs to find `GET /api/v1/auth/me`, 130 µs for a passkey sign-in, measured in
process. So the routers carry their full prefix from the start (`API_PREFIX`, `ADMIN_PREFIX`, the
contexts' own beneath it), the app takes their routes as its own (`add_routes`), and `PathIndex`,
first among them, finds a request with a fixed path by a dictionary lookup among the routes whose
pattern matches that path, in their order — what FastAPI's own scan would choose. Paths with
parameters, a method no route answers (405) and a trailing-slash redirect are left to that scan.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

API_PREFIX = "/api/v1"
# The operators' endpoints of every context (users, signing keys, webhooks).
ADMIN_PREFIX = f"{API_PREFIX}/admin"
# Where `PathIndex` leaves the route it matched, for its `handle`.
_MATCHED = "shop.matched_route"


def add_routes(target: APIRouter, router: APIRouter) -> None:
    """The router's routes become the target's own, in their order (`include_router` without its
    level): the target is the app's router, or a context's router that gathers its capabilities'.
    The routes must carry their whole path: a router of included routers is refused, as the prefix
    or settings of that inclusion would be lost."""
    for route in router.routes:
        if not isinstance(route, Route):
            raise TypeError(f"{route!r}: only routes with their whole path can be added flat")
        target.routes.append(route)


class PathIndex(BaseRoute):
    """The first route of the app: for a path without parameters, the routes that can match it, in
    the app's order, found by one lookup; the first of them that matches fully (path and method)
    answers. Anything else is not matched here, and the app's routes are tried one by one as usual.
    The index is built on the first request, when every route is in place."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._paths: dict[str, tuple[Route, ...]] | None = None

    def _build(self) -> dict[str, tuple[Route, ...]]:
        routes = [route for route in self._app.router.routes if route is not self]
        paths: dict[str, tuple[Route, ...]] = {}
        for route in routes:
            if not isinstance(route, Route) or route.param_convertors:
                continue
            path = route.path_format
            if path in paths:
                continue
            # The routes the scan would try for this path, in order, up to one of another kind (a
            # mount): from there on, the scan decides.
            matching: list[Route] = []
            for other in routes:
                if not _may_match(other, path):
                    continue
                if not isinstance(other, Route):
                    break
                matching.append(other)
            paths[path] = tuple(matching)
        return paths

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # Only for the app's router, which names itself in the scope before it matches: whoever else
        # walks the routes to find a request's (OpenTelemetry names a span so, before routing) gets
        # past the index to the route itself, and its path.
        if scope["type"] != "http" or scope.get("router") is not self._app.router:
            return Match.NONE, {}
        if self._paths is None:
            self._paths = self._build()
        candidates = self._paths.get(_route_path(scope))
        if candidates is not None:
            for route in candidates:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    return match, {**child_scope, _MATCHED: route}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The router has put the matched route's scope in place, this key among it.
        route: BaseRoute = scope[_MATCHED]
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)


def install_path_index(app: FastAPI) -> None:
    """`PathIndex` before every other route of the app."""
    app.router.routes.insert(0, PathIndex(app))


def _route_path(scope: Scope) -> str:
    """The path the routes match against (as Starlette's routes take it: without the root path)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path != root and path[len(root)] == "/":
        return path[len(root) :]
    return path


def _may_match(route: BaseRoute, path: str) -> bool:
    pattern = getattr(route, "path_regex", None)
    return pattern is None or pattern.match(path) is not None
