"""Answers that change rarely (reference data, the public keys), rendered once and served from
memory: the body, a strong `ETag` (a hash of the body) and every header as bytes, so that a request
costs a lookup. `If-None-Match` with the tag (or `*`) is answered `304 Not Modified` without a body.

A route that rendered such an answer leaves it with `FrontAnswers` (`remember_answer`), which serves
the same request again before routing: the request guard asks it first, so that a hit pays neither
the framework's route matching nor its dependencies, while the layers around the guard (request id,
security headers, CORS, the log line and the metrics) still see every request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from typing import Any, Generic, NamedTuple, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison, as RFC 9110 asks of If-None-Match."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


class _Ready(Response):
    """A response whose status, headers and body are ready: nothing is computed per request."""

    def __init__(self, status_code: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status_code
        self.body = body
        self.background = None
        # A list of its own: the framework may add to it (a route's injected Response headers).
        self.raw_headers = list(raw_headers)


class Rendered:
    """One rendered answer: `answer(if_none_match)` is its 200, or 304 when the tag matches."""

    __slots__ = ("_not_modified", "_ok", "body", "etag")

    def __init__(
        self,
        body: bytes,
        *,
        cache_control: str,
        vary: str | None = None,
        media_type: str = "application/json",
    ) -> None:
        self.body = body
        self.etag = strong_etag(body)
        common = [(b"etag", self.etag.encode()), (b"cache-control", cache_control.encode())]
        if vary is not None:
            common.append((b"vary", vary.encode()))
        self._ok = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", media_type.encode()),
            *common,
        ]
        self._not_modified = common

    def answer(self, if_none_match: str | None) -> Response:
        if if_none_match and etag_matches(if_none_match, self.etag):
            return _Ready(304, self._not_modified, b"")
        return _Ready(200, self._ok, self.body)


class Renders(Generic[K, V]):
    """A bounded map of rendered answers by what the request asked (its query string, its
    Accept-Language): clients choose the keys, so the oldest entry goes when it is full."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._entries: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def put(self, key: K, value: V) -> V:
        if key not in self._entries and len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = value
        return value

    def clear(self) -> None:
        self._entries.clear()


# What a front answer depends on, as the client sent it: path, query string and Accept-Language.
FrontKey = tuple[str, bytes, bytes | None]


class _Remembered(NamedTuple):
    route: Any  # the route that rendered it: the log line and the metrics name it as if routed
    rendered: Rendered
    still_valid: Callable[[], bool] | None


def _front_headers(scope: Scope) -> tuple[bytes | None, bytes | None]:
    """The first Accept-Language and If-None-Match of the request, as sent."""
    accept_language = if_none_match = None
    for name, value in scope["headers"]:
        if name == b"accept-language":
            if accept_language is None:
                accept_language = value
        elif name == b"if-none-match" and if_none_match is None:
            if_none_match = value
    return accept_language, if_none_match


class FrontAnswers:
    """One app's rendered answers by what their GET requests sent (`FrontKey`), each with what
    keeps it true (`still_valid`, asked on every hit; none for data that ships with shop): a hit is
    answered before routing, a miss or an answer no longer valid goes to its route, which renders
    and remembers again. Clients choose the keys: bounded, the oldest goes first."""

    def __init__(self, size: int = 1024) -> None:
        self._entries: Renders[FrontKey, _Remembered] = Renders(size)

    def answer(self, scope: Scope) -> Response | None:
        accept_language, if_none_match = _front_headers(scope)
        found = self._entries.get((scope["path"], scope["query_string"], accept_language))
        if found is None or (found.still_valid is not None and not found.still_valid()):
            return None
        scope["route"] = found.route
        return found.rendered.answer(if_none_match.decode("latin-1") if if_none_match else None)

    def remember(self, scope: Scope, rendered: Rendered, still_valid: Callable[[], bool] | None) -> None:
        key = (scope["path"], scope["query_string"], _front_headers(scope)[0])
        self._entries.put(key, _Remembered(scope.get("route"), rendered, still_valid))


def remember_answer(
    request: Request, rendered: Rendered, still_valid: Callable[[], bool] | None = None
) -> None:
    """Leave the answer of this GET, rendered from nothing but its path, query and Accept-Language,
    with the app's `FrontAnswers` (if it has one): the same request is then answered before routing
    while `still_valid()` holds."""
    answers = getattr(request.app.state, "front_answers", None)
    if answers is not None and request.scope["method"] == "GET":
        answers.remember(request.scope, rendered, still_valid)
