"""OpenAPI conventions shared by every context: stable operation ids and links between operations.

Operation ids are `<context>_<endpoint function name>` (`auth_login`, `users_make_address_primary`):
each context's router passes `operation_ids("<context>")`, so nobody writes an id by hand and a
renamed path or method never renames the operation in a generated client.

Links (OpenAPI 3 `links`) say which response value feeds which later request — the id of a new
address into `GET /addresses/{address_id}`, a login's refresh token into `/refresh`. They cross
contexts, so the composition root declares them and `install_links` merges them into the schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

# operation id -> status code -> link name -> OpenAPI link object (without `operationId`'s owner)
Links = Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]]


def operation_ids(context: str) -> Callable[[APIRoute], str]:
    """A router's `generate_unique_id_function`: `<context>_<endpoint name>`."""

    def generate(route: APIRoute) -> str:
        return f"{context}_{route.name}"

    return generate


def _operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for path in schema.get("paths", {}).values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def install_openapi(app: FastAPI, links: Links) -> None:
    """Add the `links` to the generated schema, once (the contract pass, openapi_contract.py,
    documents the errors)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            operations = _operations(schema)
            for source, by_status in links.items():
                if source not in operations:
                    raise LookupError(f"a link starts at an unknown operation: {source}")
                responses = operations[source].setdefault("responses", {})
                for status, named in by_status.items():
                    if status not in responses:
                        raise LookupError(f"a link starts at an undocumented response: {source} {status}")
                    for name, link in named.items():
                        if link["operationId"] not in operations:
                            raise LookupError(f"a link leads to an unknown operation: {link['operationId']}")
                        responses[status].setdefault("links", {})[name] = dict(link)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
