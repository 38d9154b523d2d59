"""The schema says exactly what the server checks: each place where an independent fuzzing run found
the OpenAPI document looser than the server (or the server looser than the document), answered on
both sides — the document's rule and the server's answer, side by side."""

from __future__ import annotations

import re
from typing import Any

import email_validator
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shop.auth.schemas import SPECIAL_USE_DOMAINS
from shop.localization.schemas import AMOUNT_PATTERN, RATE_PATTERN, plain_decimal
from shop.openapi import document
from tests.support.auth import PASSWORD, bearer, login, register_verified
from tests.support.problems import assert_problem

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return document()


def body_schema(spec: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    request = spec["paths"][path][method]["requestBody"]
    return dict(request["content"]["application/json"]["schema"]) | {
        "required": request.get("required", False)
    }


def component(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(spec["components"]["schemas"][name])


def valid(value: str, *, positive: bool) -> bool:
    try:
        plain_decimal(value, positive=positive)
    except ValueError:
        return False
    return True


# Digits and points, with runs of zeros and of 12-13 digits around the edges of the rules.
DECIMALS = st.one_of(
    st.text(alphabet="0123456789.", max_size=24),
    st.builds(
        lambda zeros, integer, decimals: (
            "0" * zeros + integer + ("." + decimals if decimals is not None else "")
        ),
        st.integers(0, 3),
        st.text(alphabet="0123456789", min_size=1, max_size=14),
        st.none() | st.text(alphabet="0123456789", max_size=10),
    ),
)


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(DECIMALS)
def test_the_amount_and_rate_patterns_are_the_server_rules(value: str) -> None:
    assert (re.fullmatch(AMOUNT_PATTERN, value) is not None) == valid(value, positive=False), value
    assert (re.fullmatch(RATE_PATTERN, value) is not None) == valid(value, positive=True), value


async def test_an_amount_over_12_integer_digits_is_refused_by_schema_and_server(
    spec: dict[str, Any], client: httpx.AsyncClient
) -> None:
    amount = next(p for p in spec["paths"]["/api/v1/convert"]["get"]["parameters"] if p["name"] == "amount")
    assert amount["schema"]["pattern"] == AMOUNT_PATTERN
    assert component(spec, "RateIn")["properties"]["rate"]["pattern"] == RATE_PATTERN
    too_long = "1" + "0" * 12
    assert re.fullmatch(amount["schema"]["pattern"], too_long) is None
    response = await client.get("/api/v1/convert", params={"from": "EUR", "to": "USD", "amount": too_long})
    assert_problem(response, 422, "validation_error")
    assert re.fullmatch(amount["schema"]["pattern"], "000" + "9" * 12 + ".12345678")


async def test_left_out_but_never_null_fields_say_so(spec: dict[str, Any], client: Any, app: Any) -> None:
    for name, fields in (
        ("ProfileUpdate", ("preferred_language", "preferred_currency")),
        ("AddressUpdate", ("type", "first_name", "city", "country_code", "is_primary")),
    ):
        properties = component(spec, name)["properties"]
        for field in fields:
            assert "null" not in str(properties[field]), (name, field, properties[field])
    assert "null" in str(component(spec, "ProfileUpdate")["properties"]["phone"])  # may be cleared
    user = bearer(await login(client, await register_verified(client, app)))
    refused = await client.patch("/api/v1/profile", json={"preferred_currency": None}, headers=user)
    assert_problem(refused, 422, "validation_error")
    cleared = await client.patch("/api/v1/profile", json={"phone": None}, headers=user)
    assert cleared.status_code == 200, cleared.text


async def test_refresh_takes_an_object_or_nothing(spec: dict[str, Any], client: httpx.AsyncClient) -> None:
    schema = body_schema(spec, "/api/v1/auth/refresh")
    assert schema == {"$ref": "#/components/schemas/RefreshRequest", "required": False}
    null = await client.post("/api/v1/auth/refresh", content=b"null", headers=JSON)
    body = assert_problem(null, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body"]
    nothing = await client.post("/api/v1/auth/refresh")
    assert_problem(nothing, 401, "not_authenticated")
    assert nothing.headers["www-authenticate"] == "Bearer"
    codes = spec["paths"]["/api/v1/auth/refresh"]["post"]["responses"]["401"]["content"][
        "application/problem+json"
    ]["schema"]["allOf"][1]["properties"]["code"]["enum"]
    assert "not_authenticated" in codes
    empty = await client.post("/api/v1/auth/refresh", json={})
    assert_problem(empty, 422, "validation_error")


async def test_special_use_domains_are_refused_and_the_schema_says_so(
    spec: dict[str, Any], client: httpx.AsyncClient
) -> None:
    """Decision: refused (no mail reaches them, so the account could never be verified), as the
    email-validator package rules; the schema's description names them."""
    assert tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES) == SPECIAL_USE_DOMAINS
    description = component(spec, "RegisterRequest")["properties"]["email"]["description"]
    for domain in SPECIAL_USE_DOMAINS:
        assert f"`.{domain}`" in description
    for address in ("ada@shop.test", "ada@mail.invalid", "ada@host.localhost"):
        response = await client.post(
            "/api/v1/auth/register",
            json={"email": address, "password": PASSWORD, "confirm_password": PASSWORD},
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "email"]
    ok = await client.post(
        "/api/v1/auth/register",
        json={"email": "ada@shop.example", "password": PASSWORD, "confirm_password": PASSWORD},
    )
    assert ok.status_code == 201, ok.text


async def test_token_refuses_an_empty_or_other_grant_type(
    spec: dict[str, Any], client: httpx.AsyncClient
) -> None:
    grant = component(spec, "Body_auth_token")["properties"]["grant_type"]
    assert (
        "password" in str(grant)
        and "default" not in component(spec, "Body_auth_token")["properties"]["scope"]
    )
    for sent in ("", "client_credentials"):
        response = await client.post(
            "/api/v1/auth/token", data={"grant_type": sent, "username": "a@shop.example", "password": "x" * 8}
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["error"] == "invalid_request"
        assert body["errors"][0]["loc"] == ["body", "grant_type"]
    left_out = await client.post(
        "/api/v1/auth/token", data={"username": "a@shop.example", "password": "x" * 8}
    )
    assert_problem(left_out, 401, "invalid_credentials")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/profile", "GET, PATCH, PUT"),
        ("POST", "/api/v1/addresses/3fa85f64-5717-4562-b3fc-2c963f66afa6", "DELETE, GET, PATCH, PUT"),
        ("PUT", "/api/v1/auth/me", "DELETE, GET"),
        ("GET", "/api/v1/auth/login", "POST"),
    ],
)
async def test_a_405_allows_every_method_of_the_path(
    spec: dict[str, Any], client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed
    template = re.sub(r"[0-9a-f-]{36}", "{address_id}", path)
    documented = sorted(
        m.upper() for m in spec["paths"][template] if m in ("get", "put", "post", "delete", "patch")
    )
    assert ", ".join(documented) == allowed


async def test_every_422_of_token_carries_the_oauth2_members(client: httpx.AsyncClient) -> None:
    """Also the one answered before the route runs (a control character in a form value)."""
    response = await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "a@shop.example", "password": "x\x1fy"},
    )
    body = assert_problem(response, 422, "validation_error")
    assert body["error"] == "invalid_request" and body["error_description"]
    assert body["errors"][0]["loc"] == ["body", "password"]
