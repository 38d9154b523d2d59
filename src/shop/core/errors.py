"""Errors as types: a status, a stable code and a description. They describe and never write; how
they are rendered (problem+json, OpenAPI) lives in `problems.py`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class ShopError(Exception):
    """Base of every error a client may see. Subclasses set `status` and `code`."""

    status: int = 500
    code: str = "internal_error"
    title: str | None = None
    detail: str = "An unexpected error occurred."
    # Extension members as the OpenAPI examples show them (the real ones are given per instance).
    example_extensions: Mapping[str, Any] = {}

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ):
        if detail is not None:
            self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})
        self.errors = list(errors) if errors is not None else None
        # RFC 9457 extension members, answered beside the standard ones (a context's own members,
        # OAuth2's `error`).
        self.extensions: dict[str, Any] = dict(extensions or {})
        super().__init__(self.detail)


class NotFound(ShopError):
    status, code, detail = 404, "not_found", "The resource was not found."


class Forbidden(ShopError):
    status, code, detail = 403, "forbidden", "You are not allowed to do this."


class ServiceUnavailable(ShopError):
    """Every 503 shop answers: this type, or one of its kinds below."""

    status, code, detail = 503, "service_unavailable", "A backing service is unavailable."


class ServiceBusy(ServiceUnavailable):
    """Overloaded for a moment (the pool stayed busy, or a deadlock outlasted its retries): the
    request may succeed a second later."""

    detail = "The service is busy."

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


class ShuttingDown(ServiceUnavailable):
    """A request the server's shutdown cut off: another instance, or this one restarted, answers."""

    detail = "The service is shutting down; send the request again."

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1", "Connection": "close"})


class Unauthorized(ShopError):
    """Every 401 carries a Bearer challenge."""

    status = 401

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class NotAuthenticated(Unauthorized):
    code, detail = "not_authenticated", "Authentication is required."


class TokenInvalid(Unauthorized):
    code, detail = "token_invalid", "The token is malformed, badly signed or unknown."


class TokenExpired(Unauthorized):
    code, detail = "token_expired", "The token has expired."


class TokenRevoked(Unauthorized):
    code, detail = "token_revoked", "The token's session has been revoked."


# What a route behind the bearer guard may answer besides its own errors.
BEARER_ERRORS: tuple[type[ShopError], ...] = (NotAuthenticated, TokenInvalid, TokenExpired, TokenRevoked)


class InvalidInput(ShopError):
    """A rule checked beyond the request schema, answered like any validation failure."""

    status, code, detail = 422, "validation_error", "The request is not valid."

    def __init__(self, loc: Sequence[str | int], msg: str, type_: str = "value_error"):
        super().__init__(errors=[{"loc": list(loc), "msg": msg, "type": type_}])


class RateLimited(ShopError):
    status, code, detail = 429, "rate_limited", "Too many requests; try again later."

    def __init__(self, retry_after: int):
        super().__init__(headers={"Retry-After": str(max(1, retry_after))})
