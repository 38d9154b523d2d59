"""Addresses follow their country's rules (Google's address data through localization's public
interface): required fields, postal patterns, regions written as the data's key, the `errors[].type`
values, messages in the request's language, and `formatted` in local order — through the HTTP API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shop.core.db import Database
from tests.support.app import AppWith, http_client
from tests.support.factories import SignedIn, user_with_profile
from tests.support.problems import assert_problem
from tests.support.users import ADDRESSES, DROP, address_body

# One valid address per country: (fields, the region stored, the lines of `formatted`).
VALID: dict[str, tuple[dict[str, Any], str | None, list[str]]] = {
    "US": (
        {
            "address_line_1": "1600 Amphitheatre Pkwy",
            "city": "Mountain View",
            "region": "california",
            "postal_code": "94043",
        },
        "CA",
        ["Ada Lovelace", "1600 Amphitheatre Pkwy", "MOUNTAIN VIEW, CA 94043", "UNITED STATES"],
    ),
    "CA": (
        {
            "address_line_1": "290 Bremner Blvd",
            "city": "Toronto",
            "region": "Ontario",
            "postal_code": "m5v 3l9",
        },
        "ON",
        ["ADA LOVELACE", "290 BREMNER BLVD", "TORONTO ON M5V 3L9", "CANADA"],
    ),
    "GB": (
        {
            "address_line_1": "12 St James's Square",
            "city": "London",
            "region": "Greater London",
            "postal_code": "sw1y 4jh",
        },
        "Greater London",
        ["Ada Lovelace", "12 St James's Square", "LONDON", "SW1Y 4JH", "UNITED KINGDOM"],
    ),
    "DE": (
        {"address_line_1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117"},
        None,
        ["Ada Lovelace", "Unter den Linden 1", "10117 BERLIN", "GERMANY"],
    ),
    "FR": (
        {"address_line_1": "1 rue de Rivoli", "city": "Paris", "postal_code": "75001"},
        None,
        ["Ada Lovelace", "1 rue de Rivoli", "75001 PARIS", "FRANCE"],
    ),
    "CN": (
        {"address_line_1": "东长安街1号", "city": "东城区", "region": "北京市", "postal_code": "100006"},
        "北京市",
        ["100006", "北京市东城区", "东长安街1号", "Ada Lovelace", "CHINA"],
    ),
    "JP": (
        {"address_line_1": "千代田1-1", "city": "千代田区", "region": "Tokyo", "postal_code": "100-8111"},
        "東京都",
        ["〒100-8111", "東京都", "千代田区", "千代田1-1", "Ada Lovelace", "JAPAN"],
    ),
    "BR": (
        {
            "address_line_1": "Av. Paulista, 1578",
            "city": "São Paulo",
            "region": "sp",
            "postal_code": "01310-200",
        },
        "SP",
        ["Ada Lovelace", "Av. Paulista, 1578", "SÃO PAULO-SP", "01310-200", "BRAZIL"],
    ),
    "IN": (
        {
            "address_line_1": "Apollo Bunder",
            "city": "Mumbai",
            "region": "Maharashtra",
            "postal_code": "400001",
        },
        "Maharashtra",
        ["Ada Lovelace", "Apollo Bunder", "MUMBAI 400001", "Maharashtra", "INDIA"],
    ),
    "HK": (
        {
            "address_line_1": "1 Salisbury Road",
            "city": "Tsim Sha Tsui",
            "region": "kowloon",
            "postal_code": DROP,
        },
        "Kowloon",
        ["KOWLOON", "Tsim Sha Tsui", "1 Salisbury Road", "Ada Lovelace", "HONG KONG"],
    ),
    "IE": (
        {"address_line_1": "1 O'Connell Street", "city": "Dublin", "postal_code": DROP},
        None,
        ["Ada Lovelace", "1 O'Connell Street", "DUBLIN", "IRELAND"],
    ),
}


@pytest.fixture
async def alice(app: Any) -> SignedIn:
    return await user_with_profile(app)


async def post(
    client: httpx.AsyncClient, user: SignedIn, language: str | None = None, **fields: Any
) -> httpx.Response:
    headers = {**user.headers, **({"Accept-Language": language} if language else {})}
    return await client.post(ADDRESSES, json=address_body(**fields), headers=headers)


def issues(response: httpx.Response) -> dict[str, str]:
    body = assert_problem(response, 422, "validation_error")
    return {error["loc"][-1]: error["type"] for error in body["errors"]}


@pytest.mark.parametrize("country", sorted(VALID))
async def test_a_valid_address_is_stored_normalised_and_formatted(
    client: httpx.AsyncClient, alice: SignedIn, country: str
) -> None:
    fields, region, lines = VALID[country]
    response = await post(client, alice, country_code=country.lower(), **fields)
    assert response.status_code == 201, response.text
    address = response.json()
    assert address["region"] == region
    assert address["formatted"] == lines
    assert address["city"] == fields["city"]  # stored as sent: capitals are the envelope's business
    listed = await client.get(ADDRESSES, headers=alice.headers)
    assert listed.json()[0]["formatted"] == lines


@pytest.mark.parametrize(
    ("country", "fields", "expected"),
    [
        ("US", {"postal_code": "ABCDE", "region": "CA"}, {"postal_code": "address.invalid_postal_code"}),
        ("US", {"postal_code": "10001", "region": "CA"}, {"postal_code": "address.invalid_postal_code"}),
        ("US", {"postal_code": "94043", "region": DROP}, {"region": "address.required"}),
        ("US", {"postal_code": "94043", "region": "Narnia"}, {"region": "address.invalid_region"}),
        ("US", {"postal_code": DROP, "region": "CA"}, {"postal_code": "address.required"}),
        ("CA", {"postal_code": "12345", "region": "ON"}, {"postal_code": "address.invalid_postal_code"}),
        ("GB", {"postal_code": "123456"}, {"postal_code": "address.invalid_postal_code"}),
        ("GB", {"postal_code": DROP}, {"postal_code": "address.required"}),
        ("DE", {"postal_code": "1011"}, {"postal_code": "address.invalid_postal_code"}),
        ("FR", {"postal_code": "7500A"}, {"postal_code": "address.invalid_postal_code"}),
        ("CN", {"postal_code": "100006", "region": DROP}, {"region": "address.required"}),
        ("CN", {"postal_code": "10006", "region": "北京市"}, {"postal_code": "address.invalid_postal_code"}),
        ("JP", {"postal_code": "1000001", "region": "Atlantis"}, {"region": "address.invalid_region"}),
        ("BR", {"postal_code": "01310-200", "region": DROP}, {"region": "address.required"}),
        ("BR", {"postal_code": "0131", "region": "SP"}, {"postal_code": "address.invalid_postal_code"}),
        (
            "IN",
            {"postal_code": "40000", "region": "Maharashtra"},
            {"postal_code": "address.invalid_postal_code"},
        ),
        ("HK", {"postal_code": DROP, "region": DROP}, {"region": "address.required"}),
        ("IE", {"postal_code": "not an eircode"}, {"postal_code": "address.invalid_postal_code"}),
    ],
)
async def test_an_address_breaking_its_countrys_rules_is_refused(
    client: httpx.AsyncClient, alice: SignedIn, country: str, fields: dict[str, Any], expected: dict[str, str]
) -> None:
    assert issues(await post(client, alice, country_code=country, **fields)) == expected


async def test_required_postal_code_and_region_are_named_together(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    response = await post(client, alice, country_code="US", postal_code="ABCDE", region=DROP)
    assert issues(response) == {"region": "address.required", "postal_code": "address.invalid_postal_code"}


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("de-DE", "Diese Postleitzahl ist hier nicht gültig (zum Beispiel: 26133)."),
        ("ja", "この国の郵便番号として正しくありません（例：26133）。"),
        ("pt-BR, en;q=0.5", "Este código postal não é válido aqui (por exemplo: 26133)."),
        (None, "This is not a valid postal code here (for example: 26133)."),
    ],
)
async def test_messages_are_in_the_requests_language(
    client: httpx.AsyncClient, alice: SignedIn, language: str | None, message: str
) -> None:
    response = await post(client, alice, language, country_code="DE", postal_code="1")
    assert assert_problem(response, 422, "validation_error")["errors"][0]["msg"] == message


async def test_patch_is_checked_against_the_merged_address(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    fields, _, _ = VALID["US"]
    created = (await post(client, alice, country_code="US", **fields)).json()
    path = f"{ADDRESSES}/{created['id']}"
    wrong = await client.patch(path, json={"region": "NY"}, headers=alice.headers)  # 94043 is Californian
    assert issues(wrong) == {"postal_code": "address.invalid_postal_code"}
    moved = await client.patch(
        path, json={"region": "new york", "postal_code": "10001"}, headers=alice.headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["region"] == "NY"


async def test_an_old_address_that_fails_todays_rules_stays_readable(
    app: Any, client: httpx.AsyncClient, alice: SignedIn
) -> None:
    database: Database = app.state.database
    async with database.sessions() as session:
        await session.execute(
            text(
                "INSERT INTO users.addresses (user_id, type, is_primary, first_name, last_name, address_line_1, "
                "city, postal_code, country_code) VALUES (:uid, 'both', true, 'Ada', 'L', '1 Main St', "
                "'Springfield', 'ABCDE', 'US')"
            ),
            {"uid": alice.user_id},
        )
        await session.commit()
    listed = await client.get(ADDRESSES, headers=alice.headers)
    assert listed.status_code == 200
    (old,) = listed.json()
    assert old["postal_code"] == "ABCDE"
    assert old["formatted"] == [
        "Ada L",
        "1 Main St",
        "SPRINGFIELD,  ABCDE",
        "UNITED STATES",
    ]  # the data's line, region left empty
    path = f"{ADDRESSES}/{old['id']}"
    assert (await client.get(path, headers=alice.headers)).json()["postal_code"] == "ABCDE"
    # Changing what the rules do not read (the type, primary) keeps it as it is; a ruled change must pass.
    assert (await client.patch(path, json={"type": "billing"}, headers=alice.headers)).status_code == 200
    assert issues(await client.patch(path, json={"city": "Shelbyville"}, headers=alice.headers))


@pytest.mark.parametrize(
    "field",
    [
        "first_name",
        "last_name",
        "company",
        "address_line_1",
        "address_line_2",
        "city",
        "region",
        "postal_code",
        "phone",
    ],
)
@pytest.mark.parametrize("breaker", ["\r", "\n"])
async def test_single_line_fields_refuse_cr_and_lf(
    client: httpx.AsyncClient, alice: SignedIn, field: str, breaker: str
) -> None:
    value = {"phone": f"+44 20{breaker}7946 0958", "postal_code": f"SW1Y{breaker}4JH"}.get(
        field, f"a{breaker}b"
    )
    body = assert_problem(await post(client, alice, **{field: value}), 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", field]


@pytest.mark.parametrize("field", ["first_name", "last_name"])
async def test_profile_names_refuse_cr_and_lf(client: httpx.AsyncClient, alice: SignedIn, field: str) -> None:
    response = await client.patch("/api/v1/profile", json={field: "Ada\r\nBcc: x"}, headers=alice.headers)
    assert assert_problem(response, 422, "validation_error")["errors"][0]["loc"] == ["body", field]


async def test_with_validation_off_only_lengths_and_the_country_code_apply(app_with: AppWith) -> None:
    async with app_with(address_validation="off") as application, http_client(application) as client:
        user = await user_with_profile(application)
        loose = await post(client, user, country_code="US", postal_code="ABCDE", region="california")
        assert loose.status_code == 201, loose.text
        assert loose.json()["region"] == "california"
        assert loose.json()["postal_code"] == "ABCDE"
        # The postal code is required, as the rules above the country's say.
        assert issues(await post(client, user, country_code="HK", postal_code=DROP)) == {
            "postal_code": "missing"
        }
