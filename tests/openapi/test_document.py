"""The OpenAPI document a generated client is built from (docs/openapi.json): current, every error a
Problem, 422/413/503 where they can happen, public operations marked public, examples that hold."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from jsonschema import Draft202012Validator
from pydantic import BaseModel
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from shop.core.db import SessionDep
from shop.core.openapi import install_openapi
from shop.core.problems import PROBLEM_JSON, install_error_handlers, problem_codes
from shop.core.security import CurrentUser
from shop.openapi import DEFAULT_PATH, REGENERATE, document, render

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "put", "post", "delete", "patch")
DOCUMENT_ID = "urn:shop:openapi"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return document()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def error_responses(operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for status, response in operation["responses"].items():
        if status[0] in "45":
            yield status, response


def test_the_exported_document_is_current(spec: dict[str, Any]) -> None:
    exported = (ROOT / DEFAULT_PATH).read_text(encoding="utf-8")
    if exported != render(spec):
        pytest.fail(
            f"{DEFAULT_PATH} is stale (the code describes another API): regenerate it with `{REGENERATE}`"
        )


def test_no_framework_validation_error(spec: dict[str, Any]) -> None:
    text = json.dumps(spec)
    assert "HTTPValidationError" not in text
    assert "#/components/schemas/ValidationError" not in text


def test_every_error_is_a_problem_with_an_example_of_each_code(spec: dict[str, Any]) -> None:
    wrong = []
    for path, method, operation in operations(spec):
        for status, response in error_responses(operation):
            if (path, status) == ("/health/ready", "503"):
                continue  # its own status body (API.md), checked below
            content = response.get("content", {})
            media = content.get(PROBLEM_JSON, {})
            examples = media.get("examples", {})
            if (
                set(content) != {PROBLEM_JSON}
                or problem_codes(media.get("schema", {})) != list(examples)
                or not examples
                or any(example["value"]["status"] != int(status) for example in examples.values())
                or any(f"`{code}`" not in response["description"] for code in examples)
            ):
                wrong.append(f"{method.upper()} {path} {status}")
    assert not wrong, wrong


def test_problems_declare_their_codes_status_and_extension_members(spec: dict[str, Any]) -> None:
    """Each problem schema names its status and the codes of that operation and status (an enum a
    client switches on), and declares the extension members its problems carry."""

    def part(path: str, status: str) -> dict[str, Any]:
        response = spec["paths"][path]["post"]["responses"][status]
        schema = response["content"][PROBLEM_JSON]["schema"]
        assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}
        return dict(schema["allOf"][1])

    login = part("/api/v1/auth/login", "403")
    assert login["properties"]["status"] == {"type": "integer", "enum": [403]}
    assert login["properties"]["code"]["enum"] == [
        "email_not_verified",
        "account_disabled",
        "mfa_required",
        "csrf_failed",
    ]
    assert login["properties"]["mfa_token"]["type"] == "string"
    assert login["properties"]["methods"]["items"]["enum"] == ["totp", "recovery_code"]
    assert login["required"] == ["status", "code"]  # mfa_token only with mfa_required
    token = {
        status: part("/api/v1/auth/token", status) for status in ("401", "403", "413", "422", "423", "429")
    }
    for status, error in (("401", "invalid_grant"), ("422", "invalid_request"), ("429", "slow_down")):
        assert token[status]["properties"]["error"]["enum"] == [error]
        assert token[status]["required"] == ["status", "code", "error", "error_description"]
    assert "error" not in token["413"]["properties"]  # answered before the OAuth2 endpoint runs
    assert part("/api/v1/auth/refresh", "401")["properties"]["code"]["enum"] == [
        "token_invalid",
        "token_expired",
        "token_reused",
        "token_revoked",
        "not_authenticated",
    ]
    problem = spec["components"]["schemas"]["Problem"]
    assert "null" not in json.dumps(problem["properties"]["errors"])


def test_request_schemas_carry_no_default_a_generator_would_make_required(spec: dict[str, Any]) -> None:
    source = spec["components"]["schemas"]["RateIn"]["properties"]["source"]
    assert "default" not in source
    assert "Default when left out: `manual`." in source["description"]
    # An answer keeps its defaults: openapi-typescript rightly types them as always there.


def test_422_exactly_where_an_input_is_and_413_where_a_body_is(spec: dict[str, Any]) -> None:
    wrong = []
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        takes_input = bool(operation.get("parameters")) or "requestBody" in operation
        if takes_input != ("422" in responses):
            wrong.append(f"{method.upper()} {path}: 422 {'missing' if takes_input else 'cannot happen'}")
        elif takes_input and "validation_error" not in responses["422"]["content"][PROBLEM_JSON]["examples"]:
            wrong.append(f"{method.upper()} {path}: 422 without validation_error")
        if ("requestBody" in operation) != ("413" in responses):
            wrong.append(f"{method.upper()} {path}: 413")
    assert not wrong, wrong


def test_challenges_and_retry_after_are_documented(spec: dict[str, Any]) -> None:
    wrong = []
    for path, method, operation in operations(spec):
        for status, header in (("401", "WWW-Authenticate"), ("423", "Retry-After"), ("429", "Retry-After")):
            response = operation["responses"].get(status)
            if response is not None and header not in response.get("headers", {}):
                wrong.append(f"{method.upper()} {path} {status}")
    assert not wrong, wrong


def test_the_validation_example_fits_the_operation(spec: dict[str, Any]) -> None:
    convert = spec["paths"]["/api/v1/convert"]["get"]["responses"]["422"]
    issue = convert["content"][PROBLEM_JSON]["examples"]["validation_error"]["value"]["errors"][0]
    assert issue["loc"] == ["query", "from"]
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]["422"]
    assert login["content"][PROBLEM_JSON]["examples"]["validation_error"]["value"]["errors"][0]["loc"] == [
        "body"
    ]


def test_the_public_lists_document_422_only_for_their_language(spec: dict[str, Any]) -> None:
    for path in ("/api/v1/languages", "/api/v1/currencies", "/api/v1/countries"):
        operation = spec["paths"][path]["get"]
        assert [parameter["name"] for parameter in operation["parameters"]] == ["lang"]
        assert "422" in operation["responses"]


def test_api_operations_document_a_database_outage(spec: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(spec)
        if path.startswith("/api/v1/") and "503" not in operation["responses"]
    ]
    # Countries and address formats are CLDR's and the address data's, held in process: no database.
    assert missing == ["GET /api/v1/countries", "GET /api/v1/countries/{code}/address-format"], missing
    assert "503" not in spec["paths"]["/health/live"]["get"]["responses"]


def test_public_operations_say_so(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        assert "security" in operation, f"{method.upper()} {path}"
        guarded = operation["security"] != []
        # /refresh answers the bearer guard's codes about its refresh token, and has no guard.
        bearer = "401" in operation["responses"] and _bearer(operation) and path != "/api/v1/auth/refresh"
        assert guarded == bearer, f"{method.upper()} {path}"
    paths = spec["paths"]
    assert paths["/api/v1/auth/login"]["post"]["security"] == []
    assert paths["/api/v1/convert"]["get"]["security"] == []
    assert paths["/api/v1/auth/me"]["get"]["security"]


def _bearer(operation: dict[str, Any]) -> bool:
    return "not_authenticated" in operation["responses"]["401"]["description"]


def test_tags_are_described(spec: dict[str, Any]) -> None:
    described = {tag["name"]: tag.get("description") for tag in spec.get("tags", [])}
    used = {tag for _, _, operation in operations(spec) for tag in operation.get("tags", [])}
    assert used <= set(described), used - set(described)
    assert all(described[tag] for tag in used)
    assert set(described) <= used, "a tag no operation uses is not listed"


def test_servers_are_listed(spec: dict[str, Any]) -> None:
    assert spec["servers"] and all(server["url"] for server in spec["servers"])


def test_health_and_metrics_have_schemas(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    live = paths["/health/live"]["get"]["responses"]["200"]["content"]["application/json"]
    assert live["schema"] == {"$ref": "#/components/schemas/LiveStatus"}
    ready = paths["/health/ready"]["get"]["responses"]
    for status in ("200", "503"):
        assert ready[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ReadyStatus"
        }
    assert ready["503"]["content"]["application/json"]["example"]["status"] == "unavailable"
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert metrics == {
        "text/plain": {"schema": {"type": "string"}, "example": metrics["text/plain"]["example"]}
    }


# --- examples ------------------------------------------------------------------------------------


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _has_example(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = _resolve(spec, schema)
    if schema.get("examples") or "example" in schema:
        return True
    if schema.get("type") == "array":
        return _has_example(spec, schema.get("items", {}))
    branches = [b for b in schema.get("anyOf", schema.get("oneOf", [])) if b.get("type") != "null"]
    return bool(branches) and all(_has_example(spec, branch) for branch in branches)


def _bodies(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, method, operation in operations(spec):
        request = operation.get("requestBody", {}).get("content", {})
        for media_type, media in request.items():
            yield f"{method.upper()} {path} request {media_type}", media
        for status, response in operation["responses"].items():
            for media_type, media in response.get("content", {}).items():
                yield f"{method.upper()} {path} {status} {media_type}", media


def test_every_body_has_an_example(spec: dict[str, Any]) -> None:
    missing = [
        where
        for where, media in _bodies(spec)
        if not (media.get("examples") or "example" in media or _has_example(spec, media.get("schema", {})))
    ]
    assert not missing, missing


def _examples(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every example the document holds."""
    for name, schema in spec["components"]["schemas"].items():
        for index, example in enumerate(schema.get("examples", [])):
            yield f"components/schemas/{name}/examples/{index}", schema, example
        for prop, sub in schema.get("properties", {}).items():
            for index, example in enumerate(sub.get("examples", [])):
                yield f"components/schemas/{name}/properties/{prop}/examples/{index}", sub, example
    for where, media in _bodies(spec):
        schema = media.get("schema", {})
        if "example" in media:
            yield where, schema, media["example"]
        for key, example in media.get("examples", {}).items():
            yield f"{where} examples/{key}", schema, example["value"]
        resolved = _resolve(spec, schema)
        if resolved.get("type") == "array" and not media.get("examples") and "example" not in media:
            item = _resolve(spec, resolved.get("items", {}))
            if item.get("examples"):
                yield f"{where} (a list of its item's example)", schema, [item["examples"][0]]
    for path, method, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            for index, example in enumerate(parameter["schema"].get("examples", [])):
                where = f"{method.upper()} {path} parameter {parameter['name']} examples/{index}"
                yield where, parameter["schema"], example


def test_every_example_validates_against_its_schema(spec: dict[str, Any]) -> None:
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_ID, Resource.from_contents({**spec, "$id": DOCUMENT_ID}, default_specification=DRAFT202012)
    )
    invalid = []
    count = 0
    for where, schema, example in _examples(spec):
        count += 1
        # References point into the whole document, registered under DOCUMENT_ID.
        absolute = json.loads(json.dumps(schema).replace('"#/components/', f'"{DOCUMENT_ID}#/components/'))
        validator = Draft202012Validator(
            absolute,
            registry=registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        errors = [error.message for error in validator.iter_errors(example)]
        if errors:
            invalid.append(f"{where}: {errors}")
    assert count > 100, "the walk found the examples"
    assert not invalid, invalid


# --- the mechanism: a route added tomorrow comes out right without its author's help ----------------


class Thing(BaseModel):
    name: str


def test_a_new_route_gets_its_errors_and_security_from_what_it_is() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {}

    @app.post("/things")
    async def add(thing: Thing, session: SessionDep) -> dict[str, str]:
        return {}

    @app.get("/mine/{thing_id}")
    async def mine(thing_id: int, user: CurrentUser, flag: Annotated[bool, Depends(lambda: True)]) -> None:
        return None

    install_openapi(app)
    paths = app.openapi()["paths"]
    plain_op, add_op, mine_op = (
        paths["/plain"]["get"],
        paths["/things"]["post"],
        paths["/mine/{thing_id}"]["get"],
    )
    assert set(plain_op["responses"]) == {"200"} and plain_op["security"] == []
    assert set(add_op["responses"]) == {"200", "413", "422", "503"} and add_op["security"] == []
    assert set(mine_op["responses"]) == {"200", "422", "503"} and mine_op["security"]
    assert mine_op["responses"]["422"]["content"][PROBLEM_JSON]["examples"]["validation_error"]
