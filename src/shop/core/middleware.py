"""Per-request plumbing, in two layers: X-Request-ID, the log context, the security headers, one
JSON log line, metrics and a last-resort error answer (`RequestContextMiddleware`); the shutdown's
cut-off, the body limit and the control characters (`RequestGuardMiddleware`)."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.core.caching import FrontAnswers
from shop.core.conflicts import Progress, run_tries
from shop.core.load import RequestLoad
from shop.core.logging import close_request, current_context, log_request, open_request
from shop.core.metrics import REQUEST_METRICS
from shop.core.problems import problem_response, unexpected_error_response
from shop.core.shutdown import cut_off_response, taken_as_cut_off
from shop.core.validation import ControlCharacters

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


# Unmatched paths share one label, so that scanners cannot blow up metric cardinality.
UNMATCHED = "<unmatched>"


def _routes_with_templates(routes: list[BaseRoute]) -> list[tuple[BaseRoute, str | None]]:
    """Each route with its full template. FastAPI >= 0.16x keeps an included router's routes without
    its prefix and resolves them per request; its `iter_route_contexts` gives the full paths."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: an included route's own path is the full one
        return [(route, getattr(route, "path_format", None)) for route in routes]
    return [(context.original_route, context.path_format) for context in iter_route_contexts(routes)]


class RouteTemplates:
    """The full route template of a request (`/api/v1/addresses/{address_id}`), router prefixes
    included, for the routes FastAPI names in the scope (`route`) and for those it does not: plain
    Starlette routes (`/openapi.json`) and mounts (`/docs-assets/{path}`), found by their endpoint."""

    def __init__(self) -> None:
        self._templates: dict[int, str] | None = None

    def _index(self, app: Any) -> dict[int, str]:
        templates: dict[int, str] = {}
        for route, template in _routes_with_templates(list(app.router.routes)):
            if not template:
                continue
            templates.setdefault(id(route), template)
            if not isinstance(route, APIRoute):
                # The scope keeps only the endpoint of a Starlette route, and a mount's app.
                target = getattr(route, "endpoint", None) or getattr(route, "app", None)
                if target is not None:
                    templates.setdefault(id(target), template)
        return templates

    def __call__(self, scope: Scope) -> str:
        app = scope.get("app")
        if self._templates is None and app is not None and hasattr(app, "router"):
            self._templates = self._index(app)
        templates = self._templates or {}
        route = scope.get("route")
        if route is not None:
            return templates.get(id(route)) or str(getattr(route, "path_format", None) or UNMATCHED)
        endpoint = scope.get("endpoint")
        if endpoint is not None:
            return templates.get(id(endpoint), UNMATCHED)
        return UNMATCHED


_SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
# An API answer is data, never a document to run or to frame: a response that brings no policy of its
# own (the docs and the HTML pages do) gets this one, so that JSON opened as a page loads nothing.
_CSP = b"content-security-policy"
_DEFAULT_CSP = (_CSP, b"default-src 'none'; frame-ancestors 'none'")
_NO_STORE = (b"cache-control", b"no-store")
# Headers this middleware sets: the app's own values of them are dropped.
_REPLACED = frozenset({b"x-request-id", b"x-content-type-options", b"referrer-policy"})
_REPLACED_NO_STORE = _REPLACED | {b"cache-control", b"pragma", b"expires"}


def _given_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID (the last one, if several) when well-formed, else ""."""
    given = b""
    for name, value in headers:
        if name == b"x-request-id":  # ASGI servers hand header names lower-cased
            given = value
    if not given:
        return ""
    text = given.decode("latin-1")
    return text if _REQUEST_ID.fullmatch(text) else ""


def _with_security_headers(
    headers: Iterable[tuple[bytes, bytes]], replaced: frozenset[bytes], added: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The app's headers without those replaced, then `added`, then the default policy unless the
    app brought one: one pass over the app's headers."""
    kept = []
    has_csp = False
    for header in headers:
        name = header[0].lower()
        if name in replaced:
            continue
        if name == _CSP:
            has_csp = True
        kept.append(header)
    kept += added
    if not has_csp:
        kept.append(_DEFAULT_CSP)
    return kept


class RequestContextMiddleware:
    """Around everything (a 413 or a 500 carries it all too), in one pass per request: the count of
    requests under way (`RequestLoad`); the request id (`X-Request-ID`, echoed or new) and the log
    context; the security headers (`nosniff`, `no-referrer` and, unless the response brings its own,
    a Content-Security-Policy that allows nothing on every response; `no-store` under the given path
    prefixes, as tokens and personal data must not rest in a browser's or a proxy's cache); the
    metrics and one log line per request; and a last-resort 500 problem for an error nothing else
    answered. One layer rather than several: each layer costs a call and a wrapped `send` per
    request, as much as the framework's own work on the lightest routes."""

    def __init__(
        self,
        app: ASGIApp,
        no_store_prefixes: tuple[str, ...] = (),
        name_request: Callable[[str], None] | None = None,
        load: RequestLoad | None = None,
    ) -> None:
        self.app = app
        # Tracing, when on: puts the request id on the request's span.
        self.name_request = name_request
        self.load = load or RequestLoad()
        self.route_template = RouteTemplates()
        prefixes = tuple(prefix.rstrip("/") for prefix in no_store_prefixes)
        self._no_store_exact = frozenset(prefixes)
        self._no_store_under = tuple(prefix + "/" for prefix in prefixes)

    def _no_store(self, path: str) -> bool:
        return path in self._no_store_exact or path.startswith(self._no_store_under)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        load = self.load
        load.active += 1
        request_id = _given_request_id(scope["headers"]) or os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        log_context = open_request(request_id)
        if self.name_request is not None:
            self.name_request(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        no_store = self._no_store(scope["path"])
        replaced = _REPLACED_NO_STORE if no_store else _REPLACED
        added = [*_SECURITY_HEADERS, (b"x-request-id", request_id.encode("latin-1"))]
        if no_store:
            added.append(_NO_STORE)

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = _with_security_headers(message.get("headers", ()), replaced, added)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if response_started:
                raise
            response = unexpected_error_response(Request(scope), exc)
            await response(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = self.route_template(scope)
            method = scope["method"]
            REQUEST_METRICS.add(method, route, status, elapsed)
            context = current_context()
            log_request(
                request_id,
                context.user_id if context is not None else None,
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            close_request(log_context)
            load.active -= 1
            load.last_ended = time.monotonic()


class PayloadTooLarge(StarletteHTTPException):
    """Raised from `receive` once a body passes the limit; rendered as 413 `payload_too_large`."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


# Methods whose requests carry no body unless their headers announce one.
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestGuardMiddleware:
    """Inside CORS (a browser can read its 413, 422 and 503), in one layer: the shutdown's cut-off,
    the body limit, the control characters of path, query and form (`ControlCharacters`), and the
    tries of a transaction ended by a conflict (`shop.core.conflicts.run_tries`, right outside the
    exception handlers that let conflicts through).

    Cut-off (`shop.core.shutdown`): a request the server cancels at the end of the shutdown grace,
    before its answer began, is answered 503 `service_unavailable` with `Retry-After`.

    Body limit: a declared Content-Length over `limit` is answered before any of the body is read;
    otherwise the bytes are counted as the app reads them (chunked bodies, and a Content-Length that
    understates what follows), and the read that passes the limit raises. Whatever the app makes of
    that error, the client gets the 413. A GET, HEAD or OPTIONS whose headers announce no body has
    none to count.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        path_templates: Callable[[], Iterable[str]],
        answers: FrontAnswers | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.controls = ControlCharacters(path_templates)
        self.answers = answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        announced = False
        content_type = b""
        for raw_name, value in scope["headers"]:
            name = raw_name.lower()
            if name == b"content-length":
                announced = True
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
            elif name == b"transfer-encoding":
                announced = True
            elif name == b"content-type":
                content_type = value
        if declared is not None and declared > self.limit:
            await self._too_large(scope, receive, send)
            return
        if not announced and scope["method"] in _BODILESS:
            # A remembered answer was rendered for this very path and query, which passed the
            # checks below then.
            if self.answers is not None and scope["method"] == "GET":
                ready = self.answers.answer(scope)
                if ready is not None:
                    await ready(scope, receive, send)
                    return
            errors = self.controls.url_errors(scope)
            if errors:
                await self.controls.refuse(scope, receive, send, errors)
                return
            await self._run(scope, receive, send)
            return
        await self._run_limited(scope, receive, send, content_type, self.controls.url_errors(scope))

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        progress = Progress()
        try:
            await run_tries(self.app, scope, receive, send, progress=progress)
        except asyncio.CancelledError:
            if progress.started or not taken_as_cut_off(scope["path"]):
                raise
            await cut_off_response()(scope, receive, send)

    async def _run_limited(
        self, scope: Scope, receive: Receive, send: Send, content_type: bytes, errors: list[dict[str, Any]]
    ) -> None:
        received = 0
        exceeded = False
        response_started = False
        replaced = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise PayloadTooLarge(self.limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise PayloadTooLarge(self.limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started, replaced
            if message["type"] == "http.response.start":
                response_started = True
                if exceeded:
                    # However the app answered the failed read (its own 413, a 400, …), the client
                    # gets this 413; the app's body is dropped.
                    replaced = True
                    await self._too_large(scope, receive, send)
                    return
            elif replaced:
                return
            await send(message)

        try:
            app_receive, form_errors = await self.controls.form_errors(scope, limited_receive, content_type)
            errors += form_errors
            if errors:
                await self.controls.refuse(scope, app_receive, send, errors)
                return
            await run_tries(self.app, scope, app_receive, guarded_send)
        except PayloadTooLarge:
            if response_started:
                if replaced:
                    return
                raise
            await self._too_large(scope, receive, send)
        except asyncio.CancelledError:
            if response_started or not taken_as_cut_off(scope["path"]):
                raise
            await cut_off_response()(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, "payload_too_large", f"The request body is larger than {self.limit} bytes."
        )
        await response(scope, receive, send)
