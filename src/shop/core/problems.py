"""Rendering of errors: RFC 9457 problem+json answers, their OpenAPI description, and the answer to
anything unforeseen (503 when a backing service is down or shop's own connection pool stays
exhausted, else a bare 500)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from shop.core.errors import BEARER_ERRORS, ServiceBusy, ServiceUnavailable, ShopError

logger = logging.getLogger("shop.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
# The members every problem has; anything else is an extension member (RFC 9457 §3.2).
STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "errors"})


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


def _as_written(text: str) -> str:
    return text


def error_response(error: ShopError, say: Callable[[str], str] = _as_written) -> JSONResponse:
    """The problem an error is answered as (also outside the exception handlers: middleware); `say`
    gives its title and detail in the request's language (the handlers pass the catalogs')."""
    detail = say(error.detail)
    return problem_response(
        error.status,
        error.code,
        detail.format_map(error.values) if error.values else detail,
        title=say(error.title or HTTPStatus(error.status).phrase),
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


def problem_schema(
    status: int,
    codes: Sequence[str],
    members: Mapping[str, Mapping[str, Any]] | None = None,
    required: Sequence[str] = (),
) -> dict[str, Any]:
    """The schema of an operation's problems of one status: a `Problem` whose `status` is that
    status and whose `code` is one of `codes` (an enum a generated client can switch on), with the
    extension members these problems may carry declared (`members`: name -> JSON schema; those in
    `required` every such problem carries)."""
    part: dict[str, Any] = {
        "type": "object",
        "properties": {
            "status": {"type": "integer", "enum": [status]},
            "code": {"type": "string", "enum": list(codes)},
            **(members or {}),
        },
        "required": ["status", "code", *required],
    }
    return {"allOf": [{"$ref": PROBLEM_REF}, part]}


def problem_codes(schema: Mapping[str, Any]) -> list[str] | None:
    """The `code` enum of a schema made by `problem_schema` (None for any other schema)."""
    parts = schema.get("allOf", [])
    if len(parts) != 2 or parts[0] != {"$ref": PROBLEM_REF}:
        return None
    codes: list[str] = parts[1]["properties"]["code"]["enum"]
    return codes


def problem_content(
    status: int,
    *examples: Mapping[str, Any],
    members: Mapping[str, Mapping[str, Any]] | None = None,
    required: Sequence[str] = (),
) -> dict[str, Any]:
    """The OpenAPI `content` of an error response: a Problem of those codes, one named example each."""
    return {
        PROBLEM_JSON: {
            "schema": problem_schema(status, [example["code"] for example in examples], members, required),
            "examples": {
                example["code"]: {"summary": example["title"], "value": example} for example in examples
            },
        }
    }


def problem_description(status: int, codes: Sequence[str]) -> str:
    return f"{HTTPStatus(status).phrase}: code " + " or ".join(f"`{code}`" for code in codes)


@dataclass(frozen=True, slots=True)
class ProblemMembers:
    """Extension members a route adds to every problem of some statuses (OAuth2's `error` and
    `error_description` at /token): their JSON schemas for a status (none: that status has none of
    them), and their values for a problem of a status and detail."""

    schemas: Callable[[int], Mapping[str, Mapping[str, Any]]]
    values: Callable[[int, str], Mapping[str, Any]]


def problem_responses(
    *errors: type[ShopError], bearer: bool = False, members: ProblemMembers | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: each status with the codes it may carry (an enum), the
    extension members its problems may carry, and an example of each code. `bearer=True` adds the
    bearer guard's errors — the one way a guarded route declares them. (The errors every route with
    an input, a body or a database session may answer — 422, 413, 503 — are added to every such
    route by `shop.core.openapi_contract`.)"""
    by_status: dict[int, dict[str, dict[str, Any]]] = {}
    schemas: dict[int, dict[str, Mapping[str, Any]]] = {}
    required: dict[int, list[str]] = {}
    for error in (*errors, *(BEARER_ERRORS if bearer else ())):
        example = error_example(error)
        schemas.setdefault(error.status, {}).update(error.extension_schemas)
        if members is not None and error.status not in required:
            added = members.schemas(error.status)
            schemas[error.status].update(added)
            required[error.status] = list(added)
        if members is not None:
            example = {**members.values(error.status, error.detail), **example}
        by_status.setdefault(error.status, {}).setdefault(error.code, example)
    return {
        status: {
            "content": problem_content(
                status, *examples.values(), members=schemas[status], required=required.get(status, ())
            ),
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


def add_problem_schema(schema: dict[str, Any]) -> None:
    """Register `Problem` (and what it refers to) among the document's schemas: every error
    response refers to it under application/problem+json. A step of the OpenAPI hook
    (`shop.core.openapi.install_openapi`)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    # `errors` is left out, never null, when a problem has none (and so has no default).
    problem["properties"]["errors"] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/ValidationIssue"},
        "description": "What failed, for `validation_error` only.",
    }
    components["Problem"] = problem


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route of `app` answers at `path` (its table built once, on the first 405)."""
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        # FastAPI >= 0.150 keeps included routers whole (`iter_route_contexts`); older ones copy
        # their routes into the app.
        iterate = getattr(fastapi.routing, "iter_route_contexts", None)
        for route in iterate(app.routes) if iterate is not None else app.routes:
            methods, template = getattr(route, "methods", None), getattr(route, "path_format", None)
            if methods and template:
                table.append((compile_path(template)[0], frozenset(methods)))
        app.state.allow_table = table
    return sorted({method for pattern, methods in table if pattern.match(path) for method in methods})


# (Accept-Language, a problem's English title or detail) -> the text to answer: the contexts' message
# catalogs, plugged in at bootstrap (the kernel holds no language's text).
Translate = Callable[[str | None, str], str]


def _english(_: str | None, text: str) -> str:
    return text


def install_error_handlers(app: FastAPI, translate: Translate = _english) -> None:
    def said(request: Request, text: str) -> str:
        return translate(request.headers.get("accept-language"), text)

    @app.exception_handler(ShopError)
    async def _shop_error(request: Request, exc: ShopError) -> JSONResponse:
        return error_response(exc, lambda text: said(request, text))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            422,
            "validation_error",
            said(request, "The request is not valid."),
            title=said(request, HTTPStatus(422).phrase),
            errors=clean_validation_errors(exc.errors()),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # The framework's only 400: a body it could not parse (invalid UTF-8, nesting deeper
            # than the parser allows, a number too long to convert, a broken form). Bad input of
            # every kind is a validation failure in the contract.
            return problem_response(
                422,
                "validation_error",
                said(request, "The request is not valid."),
                title=said(request, HTTPStatus(422).phrase),
                errors=[_UNPARSABLE],
            )
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            detail = "The resource was not found."
        if exc.status_code == 405:
            # The router names the methods of the first route of this path it met; HTTP asks for
            # every method the path has (RFC 9110 §15.5.6), and each method is a route of its own.
            headers["Allow"] = ", ".join(_allowed_methods(request.app, request.url.path))
        return problem_response(
            exc.status_code,
            code,
            said(request, detail),
            title=said(request, HTTPStatus(exc.status_code).phrase),
            headers=headers,
        )

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
