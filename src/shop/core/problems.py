"""Rendering of errors: RFC 9457 problem+json answers, their OpenAPI description, and the answer to
anything unforeseen (503 when a backing service is down or shop's own connection pool stays
exhausted, else a bare 500)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from shop.core.errors import BEARER_ERRORS, ServiceBusy, ServiceUnavailable, ShopError

logger = logging.getLogger("shop.errors")

PROBLEM_JSON = "application/problem+json"


class ValidationIssue(BaseModel):
    """One failed rule of a `validation_error`: where (`["body", "email"]`), what, and its kind."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response body. Some problems carry extension members
    beside these (RFC 9457 §3.2), such as `mfa_token` and `methods` of a login's `mfa_required`."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:shop:problem:not_found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "The resource was not found.",
                    "code": "not_found",
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[ValidationIssue] | None = None


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON of a problem: what `problem_response` sends and what OpenAPI shows as its example."""
    body: dict[str, Any] = {
        **(extensions or {}),
        "type": f"urn:shop:problem:{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return body


def error_response(error: ShopError) -> JSONResponse:
    """The problem an error is answered as (also outside the exception handlers: middleware)."""
    return problem_response(
        error.status,
        error.code,
        error.detail,
        title=error.title,
        headers=error.headers,
        errors=error.errors,
        extensions=error.extensions,
    )


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = problem_body(status, code, detail, title=title, errors=errors, extensions=extensions)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON)


# What a validation failure's `errors` look like in the examples of the OpenAPI document.
VALIDATION_EXAMPLE_ERRORS = [{"loc": ["body", "email"], "msg": "Field required", "type": "missing"}]


def error_example(error: type[ShopError]) -> dict[str, Any]:
    """An example body of the problem an error type is answered as."""
    return problem_body(
        error.status,
        error.code,
        error.detail,
        title=error.title,
        errors=VALIDATION_EXAMPLE_ERRORS if error.code == "validation_error" else None,
        extensions=error.example_extensions or None,
    )


def problem_content(*examples: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI `content` of an error response: a Problem, one named example per code."""
    return {
        PROBLEM_JSON: {
            "schema": {"$ref": "#/components/schemas/Problem"},
            "examples": {
                example["code"]: {"summary": example["title"], "value": example} for example in examples
            },
        }
    }


def problem_description(status: int, codes: Sequence[str]) -> str:
    return f"{HTTPStatus(status).phrase}: code " + " or ".join(f"`{code}`" for code in codes)


def problem_responses(*errors: type[ShopError], bearer: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: each status with the codes it may carry, and an example of
    each. `bearer=True` adds the bearer guard's errors — the one way a guarded route declares them.
    (The errors every route with an input, a body or a database session may answer — 422, 413,
    503 — are added to every such route by `shop.core.openapi_contract`.)"""
    by_status: dict[int, dict[str, dict[str, Any]]] = {}
    for error in (*errors, *(BEARER_ERRORS if bearer else ())):
        by_status.setdefault(error.status, {}).setdefault(error.code, error_example(error))
    return {
        status: {
            "content": problem_content(*examples.values()),
            "description": problem_description(status, list(examples)),
        }
        for status, examples in by_status.items()
    }


def clean_validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # Only loc, msg and type: pydantic's `input` and `ctx` could echo passwords back.
    return [
        {"loc": list(err.get("loc", [])), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in errors
    ]


_UNPARSABLE = {"loc": ["body"], "msg": "The body could not be parsed", "type": "body_unparsable"}

_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "payload_too_large"}


# SQLSTATE classes of a server that cannot serve now: connection exception, insufficient resources
# ("too many clients already"), operator intervention (shutting down, starting up).
_OUTAGE_SQLSTATES = ("08", "53", "57P")


def is_outage(exc: BaseException) -> bool:
    """Is this a backing service (database, network) being unreachable, rather than a bug?"""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, DBAPIError) and str(getattr(exc.orig, "sqlstate", "") or "").startswith(
        _OUTAGE_SQLSTATES
    ):
        return True
    return isinstance(exc, (ConnectionError, OSError, TimeoutError))


# deadlock_detected, serialization_failure: PostgreSQL ended the transaction to let another one on.
_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})


def is_conflict(exc: BaseException) -> bool:
    """Did PostgreSQL end this transaction to resolve a conflict with another one? Such a request
    is tried again (`shop.core.conflicts`)."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _CONFLICT_SQLSTATES


def _install_problem_schema(app: FastAPI) -> None:
    """Routes refer to `Problem` under application/problem+json: register its schema once."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(problem.pop("$defs", {}))
            components["Problem"] = problem
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    _install_problem_schema(app)

    @app.exception_handler(ShopError)
    async def _shop_error(_: Request, exc: ShopError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            422,
            "validation_error",
            "The request is not valid.",
            errors=clean_validation_errors(exc.errors()),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # The framework's only 400: a body it could not parse (invalid UTF-8, nesting deeper
            # than the parser allows, a number too long to convert, a broken form). Bad input of
            # every kind is a validation failure in the contract.
            return problem_response(
                422, "validation_error", "The request is not valid.", errors=[_UNPARSABLE]
            )
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404:
            detail = "The resource was not found."
        return problem_response(exc.status_code, code, detail, headers=exc.headers)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if is_conflict(exc):
            raise exc  # to RetryConflictsMiddleware, which runs the request again
        return unexpected_error_response(request, exc)

    @app.exception_handler(OSError)
    async def _os(request: Request, exc: OSError) -> JSONResponse:
        return unexpected_error_response(request, exc)

    @app.exception_handler(PoolTimeout)
    async def _pool(request: Request, exc: PoolTimeout) -> JSONResponse:
        return unexpected_error_response(request, exc)


def unexpected_error_response(request: Request, exc: BaseException) -> JSONResponse:
    """The answer to anything unforeseen: 503 when a backing service is down, else a bare 500."""
    if isinstance(exc, PoolTimeout):
        # Every connection of this process's pool stayed busy for the whole pool timeout: shop is
        # overloaded, PostgreSQL itself may be fine (so no outage is logged). Not a bug either:
        # the request may succeed a moment later, which Retry-After tells the client.
        logger.warning("database connection pool exhausted on %s", request.url.path)
        return error_response(ServiceBusy())
    if is_outage(exc):
        logger.warning("backing service unavailable on %s: %s", request.url.path, type(exc).__name__)
        return error_response(ServiceUnavailable())
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "internal_error", "An unexpected error occurred.")
