"""The OpenAPI document as a contract a generated client can take as is.

One pass over the finished schema derives, for every operation whoever added it, what no route should
have to write by hand — from what the operation is, not from a list:
- `422 validation_error` where the operation takes an input (a parameter or a body): the kernel
  answers it for any of them (schema rules, control characters, unparsable bodies). FastAPI's own
  `HTTPValidationError` (application/json, which shop never sends) is dropped;
- `413 payload_too_large` where it takes a body (`MAX_BODY_BYTES`);
- `503 service_unavailable` where it opens a database session (the database may be down);
- every error response a `Problem` under application/problem+json with an example per code, its
  schema naming exactly those codes (an enum per operation and status, so a generated client can
  switch on them) and the extension members declared, and the headers 401 (`WWW-Authenticate`),
  423 and 429 (`Retry-After`) carry;
- request bodies a generator at its defaults takes as written: a `default` of a schema that only
  requests use moves into its description (openapi-typescript makes a property with a default
  required, in a component as well as inline);
- `security: []` where the bearer guard is absent: the operation is public, and says so;
- the document's `tags`: those some operation uses.

`finish` is the last step of the one OpenAPI hook (`shop.core.openapi.install_openapi`), so it sees
every route and every other step.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from shop.core.db import get_database, get_session
from shop.core.errors import ServiceUnavailable
from shop.core.problems import (
    PROBLEM_JSON,
    PROBLEM_REF,
    STANDARD_MEMBERS,
    problem_body,
    problem_codes,
    problem_description,
    problem_schema,
)
from shop.core.validation import CONTROL_CHARACTER_ERROR, CONTROL_CHARACTER_MESSAGE

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

PAYLOAD_TOO_LARGE = problem_body(413, "payload_too_large", "The request body is too large.")
SERVICE_UNAVAILABLE = problem_body(
    ServiceUnavailable.status, ServiceUnavailable.code, ServiceUnavailable.detail
)

# What 401, 423 and 429 answers carry besides their problem (API.md, Conventions).
RETRY_AFTER = {
    "description": "Whole seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 1},
    "example": 900,
}
HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {
            "description": "The Bearer challenge (RFC 6750): sign in and send an access token.",
            "schema": {"type": "string"},
            "example": "Bearer",
        }
    },
    "423": {"Retry-After": RETRY_AFTER},
    "429": {"Retry-After": RETRY_AFTER},
}

# Dependencies that reach the database: an operation using one may answer 503 during an outage.
DATABASE_DEPENDENCIES: tuple[Callable[..., Any], ...] = (get_session, get_database)


def _uses(dependant: Dependant, calls: Iterable[Callable[..., Any]]) -> bool:
    wanted = tuple(calls)
    stack = [dependant]
    while stack:
        item = stack.pop()
        if item.call is not None and item.call in wanted:
            return True
        stack.extend(item.dependencies)
    return False


def _is_framework_422(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _add_problem(responses: dict[str, Any], example: dict[str, Any], *, replace: bool = False) -> None:
    """Add `example`'s code to its status's problem response, creating the response if needed
    (`replace`: this example rather than the route's own of the same code, keeping the extension
    members the route adds to all its problems)."""
    status = str(example["status"])
    response = responses.setdefault(status, {})
    content = response.setdefault("content", {})
    if content and PROBLEM_JSON not in content:
        return  # a body of its own (as /health/ready's 503): not a problem
    media = content.setdefault(PROBLEM_JSON, {"schema": problem_schema(int(status), [])})
    examples = media.setdefault("examples", {})
    old = examples.get(example["code"])
    if old is not None and replace:
        kept = {name: value for name, value in old["value"].items() if name not in STANDARD_MEMBERS}
        examples[example["code"]] = {"summary": example["title"], "value": {**kept, **example}}
    elif old is None:
        examples[example["code"]] = {"summary": example["title"], "value": example}
    response["description"] = problem_description(int(status), list(examples))


def _name_the_codes(responses: dict[str, Any]) -> None:
    """Each problem response's schema names the codes of its examples — those the operation answers
    with that status — whoever documented the response."""
    for status, response in responses.items():
        media = response.get("content", {}).get(PROBLEM_JSON)
        if media is None:
            continue
        codes = list(media.get("examples", {}))
        if media.get("schema") == {"$ref": PROBLEM_REF}:
            media["schema"] = problem_schema(int(status), codes)
        named = problem_codes(media.get("schema", {}))
        if named is not None:
            named[:] = codes


def _validation_error(operation: dict[str, Any]) -> dict[str, Any]:
    """A `validation_error` this operation could answer: a required parameter missing, a control
    character in an optional one, or a body that does not parse."""
    parameters = operation.get("parameters", [])
    if parameters:
        parameter = next((p for p in parameters if p.get("required")), parameters[0])
        loc = [parameter["in"], parameter["name"]]
        if parameter.get("required"):
            issue = {"loc": loc, "msg": "Field required", "type": "missing"}
        else:
            issue = {"loc": loc, "msg": CONTROL_CHARACTER_MESSAGE, "type": CONTROL_CHARACTER_ERROR}
    else:
        issue = {"loc": ["body"], "msg": "The body could not be parsed", "type": "body_unparsable"}
    return problem_body(422, "validation_error", "The request is not valid.", errors=[issue])


def _finish_operation(operation: dict[str, Any], route: Any) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "422" in responses and _is_framework_422(responses["422"]):
        del responses["422"]
    if operation.get("parameters") or "requestBody" in operation:
        _add_problem(responses, _validation_error(operation), replace=True)
    if "requestBody" in operation:
        _add_problem(responses, PAYLOAD_TOO_LARGE)
    if route is not None and _uses(route.dependant, DATABASE_DEPENDENCIES):
        _add_problem(responses, SERVICE_UNAVAILABLE)
    _name_the_codes(responses)
    for status, headers in HEADERS.items():
        if status in responses:
            responses[status].setdefault("headers", {}).update(headers)
    # The bearer guard is what puts `security` on an operation; without it the operation is public.
    operation.setdefault("security", [])


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """Every API route with its effective path and dependencies. FastAPI >= 0.150 keeps included
    routers as they are and resolves them per request (`iter_route_contexts`); older ones copy
    their routes into the app."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    items: Iterable[Any] = iterate(routes) if iterate is not None else routes
    for item in items:
        if isinstance(getattr(item, "original_route", item), APIRoute) and item.include_in_schema:
            yield item


def _refs(node: Any) -> Iterator[str]:
    """The names of the component schemas `node` refers to, directly."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                yield value.rsplit("/", 1)[1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _reachable(components: dict[str, Any], roots: Iterable[Any]) -> set[str]:
    found: set[str] = set()
    todo = [name for root in roots for name in _refs(root)]
    while todo:
        name = todo.pop()
        if name not in found and name in components:
            found.add(name)
            todo.extend(_refs(components[name]))
    return found


def _defaults_as_words(schema: dict[str, Any]) -> None:
    """A property a client may leave out has no `default` in a schema only requests use; its
    description says it. openapi-typescript at its defaults (`defaultNonNullable`) types a property
    with a default as always there — right for an answer, wrong for a request: the client would have
    to send what the server fills in (its exemption covers inline request bodies, not components)."""
    components = schema.get("components", {}).get("schemas", {})
    operations = [
        operation
        for item in schema.get("paths", {}).values()
        for method, operation in item.items()
        if method in METHODS
    ]
    answered = _reachable(components, [operation.get("responses", {}) for operation in operations])
    sent = _reachable(components, [operation.get("requestBody", {}) for operation in operations])
    for name in sorted(sent - answered):
        for prop in components[name].get("properties", {}).values():
            if "default" in prop and prop["default"] is not None:
                value = prop.pop("default")
                shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                said = f"Default when left out: `{shown}`."
                prop["description"] = f"{prop['description']} {said}" if prop.get("description") else said


def finish(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    by_operation = {
        (route.path_format, method.lower()): route
        for route in _api_routes(routes)
        for method in route.methods
    }
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in METHODS:
                _finish_operation(operation, by_operation.get((path, method)))
    used = {
        tag
        for item in schema.get("paths", {}).values()
        for method, operation in item.items()
        if method in METHODS
        for tag in operation.get("tags", [])
    }
    if "tags" in schema:  # described ahead for routes still to come: listed once an operation uses them
        schema["tags"] = [tag for tag in schema["tags"] if tag["name"] in used]
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    _defaults_as_words(schema)
