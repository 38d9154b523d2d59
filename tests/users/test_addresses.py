"""The address endpoints: CRUD, validation, ownership, the per-user limit, sorting."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import pytest

from tests.support.factories import SignedIn
from tests.support.problems import assert_problem
from tests.support.users import (
    ADDRESSES,
    DROP,
    add_address,
    address_body,
    assert_invalid_field,
    list_addresses,
    moment,
)

REQUIRED = ["type", "first_name", "last_name", "address_line_1", "city", "postal_code", "country_code"]
OPTIONAL = ["company", "address_line_2", "region", "phone"]
MAX_LENGTHS = {
    "first_name": 100,
    "last_name": 100,
    "city": 100,
    "region": 100,
    "company": 255,
    "address_line_1": 255,
    "address_line_2": 255,
    "postal_code": 20,
}
FIELDS = {
    "formatted",
    "id",
    "type",
    "is_primary",
    "first_name",
    "last_name",
    "company",
    "address_line_1",
    "address_line_2",
    "city",
    "region",
    "postal_code",
    "country_code",
    "phone",
    "created_at",
    "updated_at",
}


# Fixed, so that every xdist worker collects the same parametrised tests.
SOME_ID = "3f2b6c1e-8d4a-4e5b-9c7d-1a2b3c4d5e6f"


def one(address_id: str) -> str:
    return f"{ADDRESSES}/{address_id}"


# --- authentication ----------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", ADDRESSES),
    ("POST", ADDRESSES),
    ("GET", one(SOME_ID)),
    ("PUT", one(SOME_ID)),
    ("PATCH", one(SOME_ID)),
    ("DELETE", one(SOME_ID)),
    ("POST", one(SOME_ID) + "/primary"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_addresses_without_a_token_are_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json=address_body())
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


# --- create and read ---------------------------------------------------------------------------


async def test_create_returns_the_address_with_normalised_fields(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    body = address_body(
        type="both",
        company="Analytical Engines Ltd",
        address_line_2="Flat 3",
        region="Greater London",
        country_code="gb",
        phone="+44 20 7946 0958",
        first_name="  Ada  ",
    )
    response = await client.post(ADDRESSES, json=body, headers=alice.headers)
    assert response.status_code == 201, response.text
    address = response.json()
    assert set(address) == FIELDS
    assert uuid.UUID(address["id"])
    assert response.headers["location"] == f"{ADDRESSES}/{address['id']}"
    assert address["country_code"] == "GB"
    assert address["phone"] == "+442079460958"
    assert address["first_name"] == "Ada"
    assert address["type"] == "both"
    assert address["is_primary"] is True
    for field in (
        "company",
        "address_line_2",
        "region",
        "last_name",
        "address_line_1",
        "city",
        "postal_code",
    ):
        assert address[field] == body[field]
    assert datetime.fromisoformat(address["created_at"]).utcoffset() == timedelta(0)
    assert address["created_at"] == address["updated_at"]

    fetched = await client.get(one(address["id"]), headers=alice.headers)
    assert fetched.status_code == 200
    assert fetched.json() == address


async def test_optional_fields_default_to_null(client: httpx.AsyncClient, alice: SignedIn) -> None:
    address = await add_address(client, alice)
    for field in OPTIONAL:
        assert address[field] is None


@pytest.mark.parametrize("field", REQUIRED)
async def test_required_fields_are_required(client: httpx.AsyncClient, alice: SignedIn, field: str) -> None:
    response = await client.post(ADDRESSES, json=address_body(**{field: DROP}), headers=alice.headers)
    assert_invalid_field(response, field)


@pytest.mark.parametrize("field", [f for f in REQUIRED if f != "type"])
async def test_required_strings_must_not_be_blank(
    client: httpx.AsyncClient, alice: SignedIn, field: str
) -> None:
    response = await client.post(ADDRESSES, json=address_body(**{field: "   "}), headers=alice.headers)
    assert_invalid_field(response, field)


@pytest.mark.parametrize(("field", "limit"), MAX_LENGTHS.items())
async def test_string_lengths(client: httpx.AsyncClient, alice: SignedIn, field: str, limit: int) -> None:
    # Hong Kong has no postal codes, hence no pattern a long one would fail.
    country = {"country_code": "HK", "region": "Kowloon"} if field == "postal_code" else {}
    too_long = await client.post(
        ADDRESSES, json=address_body(**{field: "x" * (limit + 1)}, **country), headers=alice.headers
    )
    assert_invalid_field(too_long, field)
    longest = await client.post(
        ADDRESSES, json=address_body(**{field: "ß" * limit}, **country), headers=alice.headers
    )
    assert longest.status_code == 201, longest.text
    assert longest.json()[field] == "ß" * limit


@pytest.mark.parametrize(
    ("given", "stored", "fields"),
    [
        ("gb", "GB", {}),
        (" de ", "DE", {"postal_code": "10115"}),
        ("Us", "US", {"postal_code": "10001", "region": "NY"}),
        ("JP", "JP", {"postal_code": "100-0001", "region": "東京都"}),
    ],
)
async def test_country_code_is_upper_cased(
    client: httpx.AsyncClient, alice: SignedIn, given: str, stored: str, fields: dict[str, str]
) -> None:
    address = await add_address(client, alice, country_code=given, **fields)
    assert address["country_code"] == stored


@pytest.mark.parametrize("code", ["XX", "GBR", "G", "12", "", "U$", "ÄÖ", "EU", 44, None])
async def test_unknown_country_codes_are_rejected(
    client: httpx.AsyncClient, alice: SignedIn, code: object
) -> None:
    response = await client.post(ADDRESSES, json=address_body(country_code=code), headers=alice.headers)
    assert_invalid_field(response, "country_code")


@pytest.mark.parametrize("kind", ["home", "BOTH", "", None, 1])
async def test_type_is_billing_shipping_or_both(
    client: httpx.AsyncClient, alice: SignedIn, kind: object
) -> None:
    response = await client.post(ADDRESSES, json=address_body(type=kind), headers=alice.headers)
    assert_invalid_field(response, "type")


@pytest.mark.parametrize("phone", ["020 7946 0958", "+44 123", "call me"])
async def test_address_phone_follows_the_profile_rule(
    client: httpx.AsyncClient, alice: SignedIn, phone: str
) -> None:
    response = await client.post(ADDRESSES, json=address_body(phone=phone), headers=alice.headers)
    assert_invalid_field(response, "phone")


@pytest.mark.parametrize("value", ["yes", "true", 1, None])
async def test_is_primary_must_be_a_boolean(
    client: httpx.AsyncClient, alice: SignedIn, value: object
) -> None:
    # On create and PUT null means "left out"; anything but a JSON boolean is refused.
    response = await client.post(ADDRESSES, json=address_body(is_primary=value), headers=alice.headers)
    if value is None:
        assert response.status_code == 201, response.text
    else:
        assert_invalid_field(response, "is_primary")


@pytest.mark.parametrize(
    ("field", "value"),
    [("user_id", SOME_ID), ("id", SOME_ID), ("created_at", "2020-01-01T00:00:00Z")],
)
async def test_unknown_fields_are_rejected_everywhere(
    client: httpx.AsyncClient, alice: SignedIn, field: str, value: str
) -> None:
    response = await client.post(ADDRESSES, json=address_body(**{field: value}), headers=alice.headers)
    assert_invalid_field(response, field)
    address = await add_address(client, alice)
    response = await client.put(
        one(address["id"]), json=address_body(**{field: value}), headers=alice.headers
    )
    assert_invalid_field(response, field)
    response = await client.patch(one(address["id"]), json={field: value}, headers=alice.headers)
    assert_invalid_field(response, field)
    assert len(await list_addresses(client, alice)) == 1


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("PUT", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/primary")]
)
async def test_a_non_uuid_id_is_422(
    client: httpx.AsyncClient, alice: SignedIn, method: str, suffix: str
) -> None:
    response = await client.request(
        method, one("not-a-uuid") + suffix, json=address_body(), headers=alice.headers
    )
    assert_invalid_field(response, "address_id", where="path")


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("PUT", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/primary")]
)
async def test_a_missing_address_is_404(
    client: httpx.AsyncClient, alice: SignedIn, method: str, suffix: str
) -> None:
    response = await client.request(
        method, one(str(uuid.uuid4())) + suffix, json=address_body(), headers=alice.headers
    )
    assert_problem(response, 404, "not_found")


# --- ownership ---------------------------------------------------------------------------------


async def test_another_users_address_is_invisible(
    client: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    address = await add_address(client, alice, type="both")
    other = await add_address(client, alice, city="Paris", postal_code="75001", country_code="FR")
    path = one(address["id"])

    assert_problem(await client.get(path, headers=bob.headers), 404, "not_found")
    assert_problem(
        await client.put(path, json=address_body(city="Bob"), headers=bob.headers), 404, "not_found"
    )
    assert_problem(await client.patch(path, json={"city": "Bob"}, headers=bob.headers), 404, "not_found")
    assert_problem(await client.post(one(other["id"]) + "/primary", headers=bob.headers), 404, "not_found")
    assert_problem(await client.delete(path, headers=bob.headers), 404, "not_found")

    # The answers are exactly those for an id that does not exist.
    missing = await client.get(one(str(uuid.uuid4())), headers=bob.headers)
    assert (await client.get(path, headers=bob.headers)).json() == missing.json()

    assert await list_addresses(client, bob) == []
    assert await list_addresses(client, alice) == [address, other]


# --- PUT, PATCH, DELETE ------------------------------------------------------------------------


async def test_put_replaces_every_field(client: httpx.AsyncClient, alice: SignedIn) -> None:
    address = await add_address(
        client, alice, company="Old Co", address_line_2="Flat 3", region="Region", phone="+44 20 7946 0958"
    )
    body = address_body(type="billing", city="Berlin", postal_code="10115", country_code="de")
    response = await client.put(one(address["id"]), json=body, headers=alice.headers)
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["id"] == address["id"]
    assert replaced["type"] == "billing"
    assert replaced["city"] == "Berlin"
    assert replaced["country_code"] == "DE"
    for field in OPTIONAL:
        assert replaced[field] is None
    assert replaced["created_at"] == address["created_at"]
    assert moment(replaced["updated_at"]) > moment(address["updated_at"])
    assert (await client.get(one(address["id"]), headers=alice.headers)).json() == replaced


@pytest.mark.parametrize("field", REQUIRED)
async def test_put_requires_the_required_fields(
    client: httpx.AsyncClient, alice: SignedIn, field: str
) -> None:
    address = await add_address(client, alice)
    response = await client.put(one(address["id"]), json=address_body(**{field: DROP}), headers=alice.headers)
    assert_invalid_field(response, field)


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient, alice: SignedIn) -> None:
    address = await add_address(client, alice, company="Co", region="Region")
    response = await client.patch(
        one(address["id"]), json={"city": "Manchester", "company": None}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["city"] == "Manchester"
    assert patched["company"] is None
    assert patched["region"] == "Region"
    changed = ("city", "company", "updated_at", "formatted")
    assert {k: v for k, v in patched.items() if k not in changed} == {
        k: v for k, v in address.items() if k not in changed
    }


@pytest.mark.parametrize("field", [*REQUIRED, "is_primary"])
async def test_patch_cannot_null_a_required_field(
    client: httpx.AsyncClient, alice: SignedIn, field: str
) -> None:
    address = await add_address(client, alice)
    response = await client.patch(one(address["id"]), json={field: None}, headers=alice.headers)
    assert_invalid_field(response, field)


@pytest.mark.parametrize(("field", "limit"), MAX_LENGTHS.items())
async def test_patch_checks_lengths(
    client: httpx.AsyncClient, alice: SignedIn, field: str, limit: int
) -> None:
    address = await add_address(client, alice)
    response = await client.patch(one(address["id"]), json={field: "x" * (limit + 1)}, headers=alice.headers)
    assert_invalid_field(response, field)


async def test_patch_normalises_country_and_phone(client: httpx.AsyncClient, alice: SignedIn) -> None:
    address = await add_address(client, alice)
    response = await client.patch(
        one(address["id"]),
        json={"country_code": "fr", "postal_code": "75008", "phone": "+33 1 23 45 67 89"},
        headers=alice.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["country_code"] == "FR"
    assert response.json()["phone"] == "+33123456789"
    bad = await client.patch(one(address["id"]), json={"country_code": "ZZ"}, headers=alice.headers)
    assert_invalid_field(bad, "country_code")


async def test_an_empty_patch_changes_nothing(client: httpx.AsyncClient, alice: SignedIn) -> None:
    address = await add_address(client, alice)
    response = await client.patch(one(address["id"]), json={}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == address


async def test_delete(client: httpx.AsyncClient, alice: SignedIn) -> None:
    address = await add_address(client, alice)
    keep = await add_address(client, alice)
    response = await client.delete(one(address["id"]), headers=alice.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(one(address["id"]), headers=alice.headers), 404, "not_found")
    assert_problem(await client.delete(one(address["id"]), headers=alice.headers), 404, "not_found")
    assert [a["id"] for a in await list_addresses(client, alice)] == [keep["id"]]


# --- limit and order ---------------------------------------------------------------------------


async def test_at_most_20_addresses_per_user(
    client: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    created = [await add_address(client, alice, city=f"City {n}") for n in range(20)]
    response = await client.post(ADDRESSES, json=address_body(), headers=alice.headers)
    body = assert_problem(response, 409, "address_limit")
    assert "20" in body["detail"]
    assert len(await list_addresses(client, alice)) == 20
    # The limit is per user.
    await add_address(client, bob)
    # Deleting one makes room again.
    assert (await client.delete(one(created[0]["id"]), headers=alice.headers)).status_code == 204
    await add_address(client, alice)
    assert_problem(
        await client.post(ADDRESSES, json=address_body(), headers=alice.headers), 409, "address_limit"
    )


async def test_list_is_primary_first_then_newest(client: httpx.AsyncClient, alice: SignedIn) -> None:
    first_shipping = await add_address(client, alice, type="shipping")  # primary (shipping)
    second_shipping = await add_address(client, alice, type="shipping")
    first_billing = await add_address(client, alice, type="billing")  # primary (billing)
    both = await add_address(client, alice, type="both")
    third_shipping = await add_address(client, alice, type="shipping")
    assert [first_shipping["is_primary"], first_billing["is_primary"]] == [True, True]

    listed = await list_addresses(client, alice)
    assert [a["id"] for a in listed] == [
        first_billing["id"],
        first_shipping["id"],
        third_shipping["id"],
        both["id"],
        second_shipping["id"],
    ]

    # Making an older address primary moves it to the front.
    await client.post(one(second_shipping["id"]) + "/primary", headers=alice.headers)
    listed = await list_addresses(client, alice)
    assert [a["id"] for a in listed] == [
        first_billing["id"],
        second_shipping["id"],
        third_shipping["id"],
        both["id"],
        first_shipping["id"],
    ]


async def test_a_user_without_addresses_gets_an_empty_list(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    assert await list_addresses(client, alice) == []


async def test_updated_at_moves_only_on_change(client: httpx.AsyncClient, alice: SignedIn) -> None:
    address = await add_address(client, alice)
    same = await client.patch(one(address["id"]), json={"city": address["city"]}, headers=alice.headers)
    assert same.json()["updated_at"] == address["updated_at"]
    changed = await client.patch(one(address["id"]), json={"city": "Leeds"}, headers=alice.headers)
    assert moment(changed.json()["updated_at"]) > moment(address["updated_at"])
    assert changed.json()["created_at"] == address["created_at"]
