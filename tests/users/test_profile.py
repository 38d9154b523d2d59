"""GET, PUT and PATCH /api/v1/profile."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.support.factories import SignedIn, signed_in_user, user_with_profile
from tests.support.problems import assert_problem
from tests.support.users import PROFILE, assert_invalid_field

FULL = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+44 20 7946 0958",
    "preferred_language": "es",
    "preferred_currency": "EUR",
}


def assert_utc(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), value
    assert value.endswith(("Z", "+00:00")), value
    return moment


async def get_profile(client: httpx.AsyncClient, user: SignedIn, **headers: str) -> dict[str, Any]:
    response = await client.get(PROFILE, headers={**user.headers, **headers})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH"])
async def test_profile_without_a_token_is_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, PROFILE, json={})
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_profile_with_a_malformed_token_is_401_token_invalid(client: httpx.AsyncClient) -> None:
    response = await client.get(PROFILE, headers={"Authorization": "Bearer not-a-jwt"})
    assert_problem(response, 401, "token_invalid")
    assert response.headers["www-authenticate"] == "Bearer"


# --- reading -----------------------------------------------------------------------------------


async def test_new_profile_has_the_defaults(client: httpx.AsyncClient, alice: SignedIn) -> None:
    body = await get_profile(client, alice)
    assert body["user_id"] == str(alice.user_id)
    assert body["first_name"] is None
    assert body["last_name"] is None
    assert body["phone"] is None
    assert body["preferred_language"] == "en"
    assert body["preferred_currency"] == "USD"
    assert assert_utc(body["created_at"]) == assert_utc(body["updated_at"])
    assert set(body) == {
        "user_id",
        "first_name",
        "last_name",
        "phone",
        "preferred_language",
        "preferred_currency",
        "created_at",
        "updated_at",
    }


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("es-ES,es;q=0.9,en;q=0.8", "es"),
        ("zh-CN", "zh"),
        ("fr-CA, en;q=0.5", "fr"),
        ("xx-YY", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
async def test_created_profile_speaks_the_best_active_match_of_accept_language(
    client: httpx.AsyncClient, app: Any, accept_language: str | None, expected: str
) -> None:
    user = await user_with_profile(app, accept_language)
    assert (await get_profile(client, user))["preferred_language"] == expected


async def test_an_account_without_its_profile_is_a_404_that_writes_nothing(
    client: httpx.AsyncClient, app: Any
) -> None:
    # Every account has a profile from registration on (and older ones from the migration
    # `0008_profiles_for_every_account`): a read never makes one (ADR 0007). Without its row —
    # only a hand-made deletion leaves an account so — GET answers a problem, not a 500.
    user = await signed_in_user(app)  # publishes nothing: no profile row
    response = await client.get(PROFILE, headers={**user.headers, "Accept-Language": "de-DE"})
    assert_problem(response, 404, "not_found")
    async with app.state.database.sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM users.profiles WHERE user_id = :uid"), {"uid": user.user_id}
        )
    assert count == 0
    for method in ("PUT", "PATCH"):
        response = await client.request(method, PROFILE, json={"first_name": "Ada"}, headers=user.headers)
        assert_problem(response, 404, "not_found")


async def test_each_user_sees_only_their_own_profile(
    client: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    await client.patch(PROFILE, json={"first_name": "Alice"}, headers=alice.headers)
    assert (await get_profile(client, bob))["first_name"] is None
    assert (await get_profile(client, bob))["user_id"] == str(bob.user_id)
    assert (await get_profile(client, alice))["first_name"] == "Alice"


# --- PUT ---------------------------------------------------------------------------------------


async def test_put_sets_every_field(client: httpx.AsyncClient, alice: SignedIn) -> None:
    response = await client.put(PROFILE, json=FULL, headers=alice.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["first_name"] == "Ada"
    assert body["last_name"] == "Lovelace"
    assert body["phone"] == "+442079460958"
    assert body["preferred_language"] == "es"
    assert body["preferred_currency"] == "EUR"
    assert await get_profile(client, alice) == body


async def test_put_turns_absent_fields_into_null_and_defaults(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    await client.put(PROFILE, json=FULL, headers=alice.headers)
    response = await client.put(PROFILE, json={"last_name": "Byron"}, headers=alice.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["first_name"] is None
    assert body["last_name"] == "Byron"
    assert body["phone"] is None
    assert body["preferred_language"] == "en"
    assert body["preferred_currency"] == "USD"


async def test_put_needs_a_json_body(client: httpx.AsyncClient, alice: SignedIn) -> None:
    response = await client.put(PROFILE, content=b"{not json", headers=alice.headers)
    assert_problem(response, 422, "validation_error")


# --- PATCH -------------------------------------------------------------------------------------


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient, alice: SignedIn) -> None:
    await client.put(PROFILE, json=FULL, headers=alice.headers)
    response = await client.patch(PROFILE, json={"preferred_currency": "GBP"}, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        **(await get_profile(client, alice)),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+442079460958",
        "preferred_language": "es",
        "preferred_currency": "GBP",
    }


async def test_patch_with_null_clears_names_and_phone(client: httpx.AsyncClient, alice: SignedIn) -> None:
    await client.put(PROFILE, json=FULL, headers=alice.headers)
    response = await client.patch(PROFILE, json={"phone": None, "first_name": None}, headers=alice.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["phone"] is None
    assert body["first_name"] is None
    assert body["last_name"] == "Lovelace"


@pytest.mark.parametrize("field", ["preferred_language", "preferred_currency"])
async def test_patch_cannot_null_language_or_currency(
    client: httpx.AsyncClient, alice: SignedIn, field: str
) -> None:
    response = await client.patch(PROFILE, json={field: None}, headers=alice.headers)
    assert_invalid_field(response, field)


async def test_an_empty_patch_changes_nothing(client: httpx.AsyncClient, alice: SignedIn) -> None:
    before = await get_profile(client, alice)
    response = await client.patch(PROFILE, json={}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == before


async def test_updated_at_moves_when_the_profile_changes_and_only_then(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    before = await get_profile(client, alice)
    changed = (await client.patch(PROFILE, json={"first_name": "Ada"}, headers=alice.headers)).json()
    assert changed["created_at"] == before["created_at"]
    assert assert_utc(changed["updated_at"]) > assert_utc(before["updated_at"])
    same = (await client.patch(PROFILE, json={"first_name": "Ada"}, headers=alice.headers)).json()
    assert same["updated_at"] == changed["updated_at"]


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", "0b9d3c52-4f7e-4a36-9d2a-2f0c8f1b7e11"),
        ("is_primary", True),
        ("email_verified", True),
        ("created_at", "2020-01-01T00:00:00Z"),
    ],
)
async def test_unknown_fields_are_rejected(
    client: httpx.AsyncClient, alice: SignedIn, method: str, field: str, value: object
) -> None:
    response = await client.request(
        method, PROFILE, json={"first_name": "Ada", field: value}, headers=alice.headers
    )
    assert_invalid_field(response, field)
    assert (await get_profile(client, alice))["first_name"] is None


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("field", ["first_name", "last_name"])
async def test_names_are_at_most_100_characters(
    client: httpx.AsyncClient, alice: SignedIn, method: str, field: str
) -> None:
    response = await client.request(method, PROFILE, json={field: "x" * 101}, headers=alice.headers)
    assert_invalid_field(response, field)
    response = await client.request(method, PROFILE, json={field: "é" * 100}, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()[field] == "é" * 100


async def test_strings_are_stripped_and_blank_ones_become_null(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    response = await client.put(
        PROFILE, json={"first_name": "  Ada ", "last_name": "   ", "phone": ""}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["first_name"] == "Ada"
    assert body["last_name"] is None
    assert body["phone"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("first_name", 5), ("phone", 442079460958), ("preferred_language", ["en"]), ("last_name", True)],
)
async def test_wrong_types_are_rejected(
    client: httpx.AsyncClient, alice: SignedIn, field: str, value: object
) -> None:
    response = await client.patch(PROFILE, json={field: value}, headers=alice.headers)
    assert_invalid_field(response, field)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (650) 253-0000", "+16502530000"),
        (" +49 30 123456 ", "+4930123456"),
        ("+442079460958", "+442079460958"),
        ("+81 3-1234-5678", "+81312345678"),
    ],
)
async def test_phone_is_stored_and_returned_as_e164(
    client: httpx.AsyncClient, alice: SignedIn, given: str, stored: str
) -> None:
    response = await client.patch(PROFILE, json={"phone": given}, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == stored
    assert (await get_profile(client, alice))["phone"] == stored


@pytest.mark.parametrize(
    "phone",
    [
        "020 7946 0958",  # national form: no country
        "+44 123",  # too short for the UK
        "+44 20 7946 0958 0958 0958",  # too long
        "+999 1234567",  # no such country code
        "not a phone",
        "+",
        "+44 20 7946 0958 ext. 12",  # E.164 has no extensions
        "+" + "1" * 50,  # over-long input
    ],
)
async def test_impossible_phones_are_rejected(client: httpx.AsyncClient, alice: SignedIn, phone: str) -> None:
    response = await client.patch(PROFILE, json={"phone": phone}, headers=alice.headers)
    assert_invalid_field(response, "phone")


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("language", ["xx", "klingon", "e", "en-XX"])
async def test_unknown_language_is_422_unknown_language(
    client: httpx.AsyncClient, alice: SignedIn, method: str, language: str
) -> None:
    response = await client.request(
        method, PROFILE, json={"preferred_language": language}, headers=alice.headers
    )
    body = assert_problem(response, 422, "unknown_language")
    assert language.lower() in body["detail"].lower()
    assert (await get_profile(client, alice))["preferred_language"] == "en"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("currency", ["XXX", "ABC", "US", "DOLLARS"])
async def test_unknown_currency_is_422_unknown_currency(
    client: httpx.AsyncClient, alice: SignedIn, method: str, currency: str
) -> None:
    response = await client.request(
        method, PROFILE, json={"preferred_currency": currency}, headers=alice.headers
    )
    body = assert_problem(response, 422, "unknown_currency")
    assert currency.upper() in body["detail"]
    assert (await get_profile(client, alice))["preferred_currency"] == "USD"


async def test_an_unknown_currency_rolls_back_the_whole_change(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    response = await client.put(
        PROFILE, json={"first_name": "Ada", "preferred_currency": "XXX"}, headers=alice.headers
    )
    assert_problem(response, 422, "unknown_currency")
    assert (await get_profile(client, alice))["first_name"] is None


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(("language", "currency"), [("ja", "JPY"), ("pt", "KWD"), ("de", "GBP")])
async def test_active_codes_are_accepted(
    client: httpx.AsyncClient, alice: SignedIn, method: str, language: str, currency: str
) -> None:
    body = {"preferred_language": language, "preferred_currency": currency}
    response = await client.request(method, PROFILE, json=body, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert {key: response.json()[key] for key in body} == body


@pytest.mark.parametrize(("given", "stored"), [("EN", "en"), (" Zh ", "zh"), ("De", "de")])
async def test_language_codes_are_case_insensitive(
    client: httpx.AsyncClient, alice: SignedIn, given: str, stored: str
) -> None:
    response = await client.patch(PROFILE, json={"preferred_language": given}, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["preferred_language"] == stored


async def test_language_tags_are_checked_in_their_canonical_case(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    response = await client.patch(PROFILE, json={"preferred_language": "PT-br"}, headers=alice.headers)
    assert "'pt-BR'" in assert_problem(response, 422, "unknown_language")["detail"]


async def test_currency_codes_are_upper_cased(client: httpx.AsyncClient, alice: SignedIn) -> None:
    response = await client.patch(PROFILE, json={"preferred_currency": " eur "}, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["preferred_currency"] == "EUR"


async def test_inactive_language_and_currency_are_rejected(
    client: httpx.AsyncClient, app: Any, alice: SignedIn
) -> None:
    admin = await signed_in_user(app, role="admin")
    for path in ("/api/v1/admin/languages/fr", "/api/v1/admin/currencies/JPY"):
        response = await client.patch(path, json={"is_active": False}, headers=admin.headers)
        assert response.status_code == 200, response.text

    response = await client.patch(PROFILE, json={"preferred_language": "fr"}, headers=alice.headers)
    assert_problem(response, 422, "unknown_language")
    response = await client.patch(PROFILE, json={"preferred_currency": "JPY"}, headers=alice.headers)
    assert_problem(response, 422, "unknown_currency")
