"""Bad input never gets a 500 or a code outside the contract: control characters, unparsable bodies.

The walk over every route (test_every_string_input_refuses_control_characters) is the guard that a
route or request schema written later cannot forget the control-character rule.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.auth import new_email
from tests.support.factories import signed_in_user
from tests.support.problems import assert_problem

CONTROL = "string_control_character"
PASSWORD = "correct horse battery staple"


def assert_validation_error(response: httpx.Response) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = assert_problem(response, 422, "validation_error")["errors"]
    return errors


def control_error_at(response: httpx.Response, loc: list[str]) -> None:
    errors = assert_validation_error(response)
    assert {"loc": loc, "type": CONTROL} in [{"loc": e["loc"], "type": e["type"]} for e in errors], errors


async def admin_headers(app: FastAPI) -> dict[str, str]:
    return (await signed_in_user(app, role="admin")).headers


# --- control characters ------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f"])
async def test_control_character_in_a_profile_name_is_422(
    app: FastAPI, client: httpx.AsyncClient, char: str
) -> None:
    user = await signed_in_user(app)
    for method in ("PUT", "PATCH"):
        response = await client.request(
            method, "/api/v1/profile", headers=user.headers, json={"first_name": f"Ada{char}"}
        )
        control_error_at(response, ["body", "first_name"])


async def test_tab_is_not_a_control_character_and_cr_lf_break_only_single_lines(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await signed_in_user(app)
    address = {
        "type": "both",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address_line_1": "12 St James's Square",
        "address_line_2": "Flat\t3",
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "country_code": "GB",
    }
    created = await client.post("/api/v1/addresses", headers=user.headers, json=address)
    assert created.status_code == 201, created.text
    assert created.json()["address_line_2"] == "Flat\t3"
    # CR and LF are no control characters to the kernel, but an address line is one line.
    broken = await client.post(
        "/api/v1/addresses",
        headers=user.headers,
        json={**address, "address_line_2": "Flat 3\r\nSecond floor"},
    )
    assert broken.status_code == 422
    (error,) = broken.json()["errors"]
    assert (error["loc"], error["type"]) == (["body", "address_line_2"], "string_line_break")


async def test_nul_in_an_address_is_422_not_500(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await signed_in_user(app)
    address = {
        "type": "billing",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address_line_1": "12 St James's Square",
        "city": "Lon\x00don",
        "postal_code": "SW1Y 4JH",
        "country_code": "GB",
    }
    control_error_at(
        await client.post("/api/v1/addresses", headers=user.headers, json=address), ["body", "city"]
    )


async def test_nul_in_auth_bodies_is_422(client: httpx.AsyncClient) -> None:
    email = new_email()
    register = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": "pass\x00word123", "confirm_password": "pass\x00word123"},
    )
    control_error_at(register, ["body", "password"])
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": "x\x00"})
    control_error_at(login, ["body", "password"])


async def test_nul_in_the_token_form_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/token", data={"username": new_email(), "password": "pw\x00"})
    control_error_at(response, ["body", "password"])
    response = await client.post(
        "/api/v1/auth/token", data={"username": "a\x00@example.com", "password": "pw"}
    )
    control_error_at(response, ["body", "username"])


async def test_nul_in_query_and_path_parameters_is_422(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await admin_headers(app)
    response = await client.get("/api/v1/admin/users", headers=headers, params={"email": "a\x00@example.com"})
    control_error_at(response, ["query", "email"])
    response = await client.get("/api/v1/convert", params={"from": "USD", "to": "EUR", "amount": "1\x00"})
    control_error_at(response, ["query", "amount"])
    response = await client.patch(
        "/api/v1/admin/currencies/US%00D", headers=headers, json={"is_active": True}
    )
    control_error_at(response, ["path", "code"])
    response = await client.patch("/api/v1/admin/languages/e%00n", headers=headers, json={"is_active": True})
    control_error_at(response, ["path", "code"])


def _string_inputs(schema: dict[str, Any], operation: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, name) of every client-supplied value of an operation: path, query, form and body fields."""
    inputs = [
        (param["in"], param["name"]) for param in operation.get("parameters", []) if param["in"] != "header"
    ]
    for media, content in operation.get("requestBody", {}).get("content", {}).items():
        body = content["schema"]
        if "$ref" in body:
            body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
        where = "body" if media == "application/json" else "form"
        inputs += [(where, name) for name in body.get("properties", {})]
    return inputs


async def test_every_string_input_refuses_control_characters(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Every operation of the OpenAPI schema, each of its inputs, a NUL: 422 with an error naming
    that input, never a 500. A new route or schema that forgets the rule fails here."""
    headers = await admin_headers(app)
    schema = app.openapi()
    checked = 0
    for template, operations in schema["paths"].items():
        for method, operation in operations.items():
            for where, name in _string_inputs(schema, operation):
                target = ("path", name) if where == "path" else None
                path = re.sub(
                    r"\{(\w+)\}", lambda m, t=target: "x%00" if ("path", m.group(1)) == t else "x", template
                )
                request: dict[str, Any] = {"headers": headers}
                if where == "query":
                    request["params"] = {name: "x\x00"}
                elif where == "form":
                    request["data"] = {name: "x\x00"}
                elif where == "body":
                    request["json"] = {name: "x\x00"}
                response = await client.request(method.upper(), path, **request)
                assert response.status_code == 422, (method, template, where, name, response.text)
                control_error_at(response, ["body" if where == "form" else where, name])
                checked += 1
    assert checked >= 40


# --- bodies that are not JSON ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"email": "ada@example.com", "password": "\xff\xfe"}', id="invalid-utf8"),
        pytest.param(b"[" * 30_000 + b"]" * 30_000, id="nested-too-deep"),
        pytest.param(
            b'{"email": "ada@example.com", "password": ' + b"9" * 5_000 + b"}", id="number-too-large"
        ),
        pytest.param(b'{"email": "ada@example.com", ', id="truncated"),
    ],
)
async def test_unparsable_json_is_422(client: httpx.AsyncClient, body: bytes) -> None:
    for path in ("/api/v1/auth/login", "/api/v1/auth/register"):
        response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
        errors = assert_validation_error(response)
        assert errors and errors[0]["loc"][0] == "body"


async def test_unparsable_json_on_an_authenticated_route_is_422(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await signed_in_user(app)
    response = await client.patch(
        "/api/v1/profile",
        content=b'{"first_name": "\xc3\x28"}',
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert_validation_error(response)


async def test_broken_multipart_form_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/token",
        content=b"--nope\r\nContent-Disposition: form-data\r\n\r\nx",
        headers={"Content-Type": "multipart/form-data; boundary=other"},
    )
    assert_validation_error(response)
