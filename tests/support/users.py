"""Helpers of the users tests: request bodies, and the primary flags as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.support.factories import SignedIn
from tests.support.problems import assert_problem

PROFILE = "/api/v1/profile"
ADDRESSES = "/api/v1/addresses"

DROP = object()


def address_body(**overrides: Any) -> dict[str, Any]:
    """A valid address; `field=DROP` leaves a field out."""
    body: dict[str, Any] = {
        "type": "shipping",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address_line_1": "12 St James's Square",
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "country_code": "GB",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not DROP}


async def add_address(client: httpx.AsyncClient, user: SignedIn, **overrides: Any) -> dict[str, Any]:
    response = await client.post(ADDRESSES, json=address_body(**overrides), headers=user.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def list_addresses(client: httpx.AsyncClient, user: SignedIn) -> list[dict[str, Any]]:
    response = await client.get(ADDRESSES, headers=user.headers)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def primaries(client: httpx.AsyncClient, user: SignedIn) -> dict[str, list[str]]:
    """The ids of the primary addresses of each use."""
    uses: dict[str, list[str]] = {"shipping": [], "billing": []}
    for address in await list_addresses(client, user):
        if address["is_primary"]:
            if address["type"] in ("shipping", "both"):
                uses["shipping"].append(address["id"])
            if address["type"] in ("billing", "both"):
                uses["billing"].append(address["id"])
    return uses


def assert_invalid_field(response: httpx.Response, field: str, where: str = "body") -> None:
    """A 422 validation_error whose errors name `field`."""
    body = assert_problem(response, 422, "validation_error")
    locations = [error["loc"] for error in body["errors"]]
    assert [where, field] in locations, locations


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)
