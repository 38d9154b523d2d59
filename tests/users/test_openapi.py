"""The users endpoints as OpenAPI shows them: bodies with examples, errors with their codes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

# Every one may also answer 503 (the database is down); those with a body 413 (too large).
ENDPOINTS = {
    ("get", "/api/v1/profile"): {"200", "401", "503"},
    ("put", "/api/v1/profile"): {"200", "401", "413", "422", "503"},
    ("patch", "/api/v1/profile"): {"200", "401", "413", "422", "503"},
    ("get", "/api/v1/addresses"): {"200", "401", "503"},
    ("post", "/api/v1/addresses"): {"201", "401", "409", "413", "422", "503"},
    ("get", "/api/v1/addresses/{address_id}"): {"200", "401", "404", "422", "503"},
    ("put", "/api/v1/addresses/{address_id}"): {"200", "401", "404", "413", "422", "503"},
    ("patch", "/api/v1/addresses/{address_id}"): {"200", "401", "404", "413", "422", "503"},
    ("delete", "/api/v1/addresses/{address_id}"): {"204", "401", "404", "422", "503"},
    ("post", "/api/v1/addresses/{address_id}/primary"): {"200", "401", "404", "422", "503"},
}


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_documents_its_answers(openapi: dict[str, Any], method: str, path: str) -> None:
    operation = openapi["paths"][path][method]
    assert set(operation["responses"]) == ENDPOINTS[(method, path)]
    assert operation["description"], "the endpoint docstring is the OpenAPI text"
    assert operation["security"], "a bearer token is required"
    assert "not_authenticated" in operation["responses"]["401"]["description"]


def test_error_codes_are_named(openapi: dict[str, Any]) -> None:
    paths = openapi["paths"]
    assert "address_limit" in paths["/api/v1/addresses"]["post"]["responses"]["409"]["description"]
    for method in ("put", "patch"):
        description = paths["/api/v1/profile"][method]["responses"]["422"]["description"]
        for code in ("validation_error", "unknown_language", "unknown_currency"):
            assert code in description


@pytest.mark.parametrize(
    "schema", ["ProfileReplace", "ProfileUpdate", "ProfileOut", "AddressIn", "AddressUpdate", "AddressOut"]
)
def test_bodies_have_examples(openapi: dict[str, Any], schema: str) -> None:
    assert openapi["components"]["schemas"][schema]["examples"]


@pytest.mark.parametrize("schema", ["ProfileReplace", "ProfileUpdate", "AddressIn", "AddressUpdate"])
def test_request_bodies_forbid_unknown_fields(openapi: dict[str, Any], schema: str) -> None:
    assert openapi["components"]["schemas"][schema]["additionalProperties"] is False


def test_address_lengths_are_in_the_schema(openapi: dict[str, Any]) -> None:
    properties = openapi["components"]["schemas"]["AddressIn"]["properties"]
    assert properties["first_name"]["maxLength"] == 100
    assert properties["address_line_1"]["maxLength"] == 255
    postal_code = next(kind for kind in properties["postal_code"]["anyOf"] if kind.get("type") == "string")
    assert postal_code["maxLength"] == 20
    assert properties["type"]["enum"] == ["billing", "shipping", "both"]
