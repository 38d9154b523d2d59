"""Answers that change rarely (reference data, the public keys), rendered once and served from
memory: the body, a strong `ETag` (a hash of the body) and every header as bytes, so that a request
costs a lookup. `If-None-Match` with the tag (or `*`) is answered `304 Not Modified` without a body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from typing import Generic, TypeVar

from starlette.responses import Response

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
        if len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = value
        return value

    def clear(self) -> None:
        self._entries.clear()
