"""OpenAPI conventions shared by every context: stable operation ids and links between operations.

Operation ids are `<context>_<endpoint function name>` (`auth_login`, `users_make_address_primary`):
each context's router passes `operation_ids("<context>")`, so nobody writes an id by hand and a
renamed path or method never renames the operation in a generated client.

Links (OpenAPI 3 `links`) say which response value feeds which later request — the id of a new
address into `GET /addresses/{address_id}`, a login's refresh token into `/refresh`. They cross
contexts, so the composition root declares them and the OpenAPI hook merges them into the schema.

`install_openapi` is the app's one OpenAPI hook: the steps that make the document run in it, once,
in the order written there — no wrapper depends on the order another was installed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from shop.core.openapi_contract import finish
from shop.core.problems import add_problem_schema

# operation id -> status code -> link name -> OpenAPI link object (without `operationId`'s owner)
Links = Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]]


def operation_ids(context: str) -> Callable[[APIRoute], str]:
    """A router's `generate_unique_id_function`: `<context>_<endpoint name>`, the name without a
    trailing `_<context>` so that an id never says its context twice (keys' `list_keys` is
    `keys_list`)."""
    repeated = f"_{context}"

    def generate(route: APIRoute) -> str:
        return f"{context}_{route.name.removesuffix(repeated)}"

    return generate


def _operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for path in schema.get("paths", {}).values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def add_links(schema: dict[str, Any], links: Links) -> None:
    """Add the `links` to the operations they start at; a link that names an unknown operation or
    an undocumented response is a LookupError (a mistake of the composition root)."""
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


def install_openapi(app: FastAPI, links: Links | None = None) -> None:
    """The app's one OpenAPI hook. The document is made once, on first use, from the routes there
    are then (so where this is called among the app's set-up does not matter), in these steps:

    1. FastAPI's document of the routes;
    2. the `Problem` schema every error response refers to (`add_problem_schema`);
    3. the `links` between operations, on the responses the routes declared (`add_links`);
    4. the contract pass, last, as it completes every operation with what it derives from the
       route and the steps above (`shop.core.openapi_contract.finish`)."""
    generate = app.openapi  # FastAPI's own

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            try:
                add_problem_schema(schema)
                add_links(schema, links or {})
                finish(schema, app.routes)
            except BaseException:
                app.openapi_schema = None  # FastAPI's step cached it: no half-made document stays
                raise
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
