"""The localization endpoints, through the app, each test in a rolled-back transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.app import AppWith, http_client
from tests.support.factories import signed_in_user
from tests.support.localization import add_rates, utc
from tests.support.problems import assert_problem

# The euro and the currencies of the ECB's daily reference rates (2026).
ECB_CURRENCIES = {
    "EUR", "USD", "JPY", "CZK", "DKK", "GBP", "HUF", "PLN", "RON", "SEK", "CHF", "ISK", "NOK", "TRY", "AUD",
    "BRL", "CAD", "CNY", "HKD", "IDR", "ILS", "INR", "KRW", "MXN", "MYR", "NZD", "PHP", "SGD", "THB", "ZAR",
}  # fmt: skip


# -- languages and currencies ---------------------------------------------------------------------


async def test_languages_lists_the_active_ones(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/languages")
    assert response.status_code == 200
    languages = {item["code"]: item for item in response.json()}
    assert {"en", "es", "zh", "fr", "de", "ja", "pt"} <= set(languages)
    assert languages["es"] == {"code": "es", "name": "Spanish", "native_name": "Español"}
    assert languages["zh"]["native_name"] == "中文"
    assert languages["ja"]["native_name"] == "日本語"


async def test_currencies_lists_active_ones_with_iso_minor_units(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/currencies")
    assert response.status_code == 200
    currencies = {item["code"]: item for item in response.json()}
    assert ECB_CURRENCIES | {"KWD"} <= set(currencies)
    assert "BGN" not in currencies  # withdrawn: Bulgaria uses the euro since 2026
    assert currencies["JPY"] == {"code": "JPY", "name": "Yen", "symbol": "¥", "decimal_places": 0}
    assert currencies["KWD"]["decimal_places"] == 3
    assert currencies["USD"] == {"code": "USD", "name": "US Dollar", "symbol": "$", "decimal_places": 2}
    assert currencies["EUR"]["symbol"] == "€"
    assert (currencies["ISK"]["decimal_places"], currencies["KRW"]["decimal_places"]) == (0, 0)


async def test_etag_changes_when_the_list_changes(app: Any, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, role="admin")
    before = await client.get("/api/v1/languages")
    patched = await client.patch(
        "/api/v1/admin/languages/pt", json={"is_active": False}, headers=admin.headers
    )
    assert patched.status_code == 200
    after = await client.get("/api/v1/languages", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert "pt" not in {item["code"] for item in after.json()}


# -- admin switches -------------------------------------------------------------------------------


async def test_admin_deactivates_and_reactivates_a_currency(app: Any, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, role="admin")
    off = await client.patch("/api/v1/admin/currencies/kwd", json={"is_active": False}, headers=admin.headers)
    assert off.status_code == 200
    assert off.json() == {
        "code": "KWD",
        "name": "Kuwaiti Dinar",
        "symbol": "د.ك.",
        "decimal_places": 3,
        "is_active": False,
    }
    listed = {item["code"] for item in (await client.get("/api/v1/currencies")).json()}
    assert "KWD" not in listed
    assert_problem(await client.get("/api/v1/convert?from=USD&to=KWD&amount=1"), 422, "unknown_currency")

    on = await client.patch("/api/v1/admin/currencies/KWD", json={"is_active": True}, headers=admin.headers)
    assert on.json()["is_active"] is True
    assert "KWD" in {item["code"] for item in (await client.get("/api/v1/currencies")).json()}


async def test_admin_patches_a_language(app: Any, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, role="admin")
    response = await client.patch(
        "/api/v1/admin/languages/DE", json={"is_active": False}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json() == {"code": "de", "name": "German", "native_name": "Deutsch", "is_active": False}


@pytest.mark.parametrize("path", ["/api/v1/admin/currencies/XYZ", "/api/v1/admin/languages/xx"])
async def test_patching_an_unknown_code_is_404(app: Any, client: httpx.AsyncClient, path: str) -> None:
    admin = await signed_in_user(app, role="admin")
    assert_problem(
        await client.patch(path, json={"is_active": False}, headers=admin.headers), 404, "not_found"
    )


@pytest.mark.parametrize(
    "body",
    [{}, {"is_active": "yes"}, {"is_active": 1}, {"is_active": True, "code": "EUR"}, {"is_active": None}],
)
async def test_patch_body_is_validated(app: Any, client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    admin = await signed_in_user(app, role="admin")
    response = await client.patch("/api/v1/admin/currencies/EUR", json=body, headers=admin.headers)
    assert_problem(response, 422, "validation_error")


RATE_BODY = {"from": "EUR", "to": "USD", "rate": "1.0852", "effective_date": "2026-11-20T15:00:00Z"}
ADMIN_CALLS = [
    ("POST", "/api/v1/admin/exchange-rates", RATE_BODY),
    ("PATCH", "/api/v1/admin/currencies/EUR", {"is_active": False}),
    ("PATCH", "/api/v1/admin/languages/es", {"is_active": False}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_admin_writes_need_a_token(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any]
) -> None:
    response = await client.request(method, path, json=body)
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_admin_writes_are_forbidden_to_customers(
    app: Any, client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any]
) -> None:
    customer = await signed_in_user(app, role="customer")
    assert_problem(await client.request(method, path, json=body, headers=customer.headers), 403, "forbidden")
    # Nothing changed.
    assert (await client.get("/api/v1/exchange-rates/EUR/USD")).status_code == 404
    codes = {item["code"] for item in (await client.get("/api/v1/languages")).json()}
    assert "es" in codes
    assert "EUR" in {item["code"] for item in (await client.get("/api/v1/currencies")).json()}


# -- storing rates --------------------------------------------------------------------------------


async def test_admin_stores_a_rate(app: Any, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, role="admin")
    body = {"from": "eur", "to": "USD", "rate": "1.08520", "effective_date": "2026-11-20T16:00:00+01:00"}
    response = await client.post("/api/v1/admin/exchange-rates", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["from"] == "EUR" and stored["to"] == "USD"
    assert stored["rate"] == "1.0852"
    assert stored["effective_date"] == "2026-11-20T15:00:00Z"
    assert stored["source"] == "manual"
    assert set(stored) == {"id", "from", "to", "rate", "effective_date", "source", "created_at"}

    read = await client.get("/api/v1/exchange-rates/EUR/USD")
    assert read.json() == {
        "from": "EUR",
        "to": "USD",
        "rate": "1.0852",
        "effective_date": "2026-11-20T15:00:00Z",
        "source": "manual",
    }


async def test_a_second_rate_at_the_same_instant_is_409(app: Any, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, role="admin")
    first = await client.post("/api/v1/admin/exchange-rates", json=RATE_BODY, headers=admin.headers)
    assert first.status_code == 201
    same_instant = {**RATE_BODY, "rate": "2", "effective_date": "2026-11-20T16:00:00+01:00", "source": "ECB"}
    assert_problem(
        await client.post("/api/v1/admin/exchange-rates", json=same_instant, headers=admin.headers),
        409,
        "rate_exists",
    )
    # The transaction lives on: the first rate is intact, another instant is fine.
    assert (await client.get("/api/v1/exchange-rates/EUR/USD")).json()["rate"] == "1.0852"
    later = {**RATE_BODY, "effective_date": "2026-11-20T15:00:00.000001Z"}
    assert (
        await client.post("/api/v1/admin/exchange-rates", json=later, headers=admin.headers)
    ).status_code == 201
    reverse = {**RATE_BODY, "from": "USD", "to": "EUR", "rate": "0.92"}
    assert (
        await client.post("/api/v1/admin/exchange-rates", json=reverse, headers=admin.headers)
    ).status_code == 201


@pytest.mark.parametrize(
    "change",
    [
        {"rate": "0"},
        {"rate": "-1.5"},
        {"rate": "0.000000001"},
        {"rate": "1234567890123"},
        {"rate": "1e3"},
        {"rate": "NaN"},
        {"rate": "Infinity"},
        {"rate": 1.0852},
        {"rate": None},
        {"effective_date": "tomorrow"},
        {"effective_date": 1763650800},
        {"from": "EURO"},
        {"to": "US"},
        {"to": "EUR"},
        {"source": ""},
        {"source": "x" * 33},
        {"source": "derived"},
        {"user_id": "00000000-0000-0000-0000-000000000000"},
        {"from_": "GBP"},
    ],
)
async def test_invalid_rates_are_422(app: Any, client: httpx.AsyncClient, change: dict[str, Any]) -> None:
    admin = await signed_in_user(app, role="admin")
    body = {**RATE_BODY, **change}
    assert_problem(
        await client.post("/api/v1/admin/exchange-rates", json=body, headers=admin.headers),
        422,
        "validation_error",
    )


async def test_missing_fields_and_bad_json_are_422(app: Any, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, role="admin")
    for body in ({"from": "EUR", "to": "USD"}, {}):
        response = await client.post("/api/v1/admin/exchange-rates", json=body, headers=admin.headers)
        assert_problem(response, 422, "validation_error")
    raw = await client.post(
        "/api/v1/admin/exchange-rates",
        content=b"{not json",
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert_problem(raw, 422, "validation_error")


async def test_rates_for_unknown_currencies_are_refused(app: Any, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, role="admin")
    body = {**RATE_BODY, "to": "XYZ"}
    assert_problem(
        await client.post("/api/v1/admin/exchange-rates", json=body, headers=admin.headers),
        422,
        "unknown_currency",
    )


async def test_rates_may_be_stored_for_an_inactive_currency(app: Any, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, role="admin")
    body = {**RATE_BODY, "to": "BGN", "rate": "1.95583"}
    assert (
        await client.post("/api/v1/admin/exchange-rates", json=body, headers=admin.headers)
    ).status_code == 201
    # …but nobody can read or convert with it while it is inactive.
    assert_problem(await client.get("/api/v1/exchange-rates/EUR/BGN"), 422, "unknown_currency")


async def test_the_maximum_rate_round_trips(app: Any, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, role="admin")
    body = {**RATE_BODY, "to": "IDR", "rate": "999999999999.99999999"}
    response = await client.post("/api/v1/admin/exchange-rates", json=body, headers=admin.headers)
    assert response.status_code == 201
    assert response.json()["rate"] == "999999999999.99999999"


# -- reading rates --------------------------------------------------------------------------------


async def test_rate_in_force_is_the_latest_not_after_at(app: Any, client: httpx.AsyncClient) -> None:
    future = datetime.now(UTC) + timedelta(days=30)
    await add_rates(
        app,
        ("EUR", "USD", "1.10", utc(2026, 1, 1)),
        ("EUR", "USD", "1.20", utc(2026, 2, 1)),
        ("EUR", "USD", "1.30", utc(2026, 3, 1)),
        ("EUR", "USD", "9.99", future),
    )

    async def rate_at(at: str | None) -> httpx.Response:
        return await client.get("/api/v1/exchange-rates/EUR/USD", params={"at": at} if at else None)

    cases = {
        "2026-01-15T00:00:00Z": ("1.1", "2026-01-01T00:00:00Z"),
        "2026-02-01T00:00:00Z": ("1.2", "2026-02-01T00:00:00Z"),  # effective_date == at is in force
        "2026-01-31T23:59:59.999999Z": ("1.1", "2026-01-01T00:00:00Z"),
        "2026-02-01T01:00:00+02:00": ("1.1", "2026-01-01T00:00:00Z"),  # 2026-01-31T23:00Z
        "2026-02-01T00:00:00": ("1.2", "2026-02-01T00:00:00Z"),  # no offset: UTC
        "2026-02-15": ("1.2", "2026-02-01T00:00:00Z"),
        "2030-01-01T00:00:00Z": ("9.99", future.isoformat().replace("+00:00", "Z")),
    }
    for at, (rate, effective) in cases.items():
        body = (await rate_at(at)).json()
        assert (body["rate"], body["effective_date"]) == (rate, effective), at
    now = (await rate_at(None)).json()  # the future-dated rate is not in force yet
    assert (now["rate"], now["effective_date"], now["source"]) == ("1.3", "2026-03-01T00:00:00Z", "test")
    assert_problem(await rate_at("2025-12-31T23:59:59Z"), 404, "rate_not_found")


async def test_inverse_rate(app: Any, client: httpx.AsyncClient) -> None:
    await add_rates(app, ("EUR", "USD", "1.085", utc(2026, 2, 1)))
    body = (await client.get("/api/v1/exchange-rates/USD/EUR")).json()
    assert body == {
        "from": "USD",
        "to": "EUR",
        "rate": "0.92165899",
        "effective_date": "2026-02-01T00:00:00Z",
        "source": "derived",
    }


async def test_cross_rate_through_the_base_currency(app: Any, client: httpx.AsyncClient) -> None:
    await add_rates(
        app,
        ("EUR", "USD", "1.085", utc(2026, 1, 1)),
        ("USD", "JPY", "150.5", utc(2026, 2, 1)),
        ("GBP", "USD", "1.25", utc(2026, 3, 1)),
    )
    eur_jpy = (await client.get("/api/v1/exchange-rates/EUR/JPY")).json()
    assert (eur_jpy["rate"], eur_jpy["effective_date"], eur_jpy["source"]) == (
        "163.2925",
        "2026-01-01T00:00:00Z",
        "derived",
    )
    # EUR→GBP: EUR→USD direct, USD→GBP the inverse of GBP→USD: 1.085 / 1.25.
    eur_gbp = (await client.get("/api/v1/exchange-rates/EUR/GBP")).json()
    assert (eur_gbp["rate"], eur_gbp["effective_date"]) == ("0.868", "2026-01-01T00:00:00Z")
    # JPY→GBP: both legs inverse: 1 / 150.5 / 1.25 = 0.0053156146…
    jpy_gbp = (await client.get("/api/v1/exchange-rates/JPY/GBP")).json()
    assert (jpy_gbp["rate"], jpy_gbp["effective_date"]) == ("0.00531561", "2026-02-01T00:00:00Z")
    # A cross rate needs both legs in force at `at`.
    assert_problem(
        await client.get("/api/v1/exchange-rates/EUR/JPY?at=2026-01-15T00:00:00Z"), 404, "rate_not_found"
    )
    assert_problem(await client.get("/api/v1/exchange-rates/EUR/CHF"), 404, "rate_not_found")


async def test_base_currency_setting_is_the_pivot(app_with: AppWith) -> None:
    async with app_with(base_currency="EUR") as app, http_client(app) as client:
        await add_rates(app, ("EUR", "USD", "1.25", utc(2026, 1, 1)), ("EUR", "GBP", "0.8", utc(2026, 1, 2)))
        body = (await client.get("/api/v1/exchange-rates/USD/GBP")).json()
        assert (body["rate"], body["source"], body["effective_date"]) == (
            "0.64",
            "derived",
            "2026-01-01T00:00:00Z",
        )
        table = (await client.get("/api/v1/exchange-rates")).json()
        assert table["base"] == "EUR"
        assert table["rates"] == {"USD": "1.25", "GBP": "0.8"}


async def test_same_currency_is_one(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/exchange-rates/usd/USD?at=2026-01-01T00:00:00Z")).json()
    assert body == {
        "from": "USD",
        "to": "USD",
        "rate": "1",
        "effective_date": "2026-01-01T00:00:00Z",
        "source": "identity",
    }
    converted = (await client.get("/api/v1/convert?from=JPY&to=JPY&amount=1234.5")).json()
    assert (converted["rate"], converted["converted_amount"], converted["amount"]) == ("1", "1235", "1234.5")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/exchange-rates/EUR/XYZ",
        "/api/v1/exchange-rates/XYZ/EUR",
        "/api/v1/exchange-rates/BGN/EUR",  # inactive
        "/api/v1/convert?from=XYZ&to=USD&amount=1",
        "/api/v1/convert?from=USD&to=BGN&amount=1",
        "/api/v1/exchange-rates?base=XYZ",
        "/api/v1/exchange-rates?base=BGN",
    ],
)
async def test_unknown_or_inactive_currencies_are_422(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path), 422, "unknown_currency")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/exchange-rates/EU/USD",
        "/api/v1/exchange-rates/EUR/U5D",
        "/api/v1/exchange-rates?base=EURO",
        "/api/v1/convert?from=US&to=EUR&amount=1",
    ],
)
async def test_malformed_currency_codes_are_422(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path), 422, "validation_error")


@pytest.mark.parametrize(
    "at", ["yesterday", "1767225600", "2026-02-30", "2026-01-01T25:00:00Z", "0001-01-01T00:00:00+01:00", ""]
)
async def test_bad_at_is_422(client: httpx.AsyncClient, at: str) -> None:
    for path, params in (
        ("/api/v1/exchange-rates/EUR/USD", {"at": at}),
        ("/api/v1/convert", {"from": "EUR", "to": "USD", "amount": "1", "at": at}),
    ):
        body = assert_problem(await client.get(path, params=params), 422, "validation_error")
        assert body["errors"][0]["loc"] == ["query", "at"]


async def test_exchange_rates_table(app: Any, client: httpx.AsyncClient) -> None:
    future = datetime.now(UTC) + timedelta(days=1)
    await add_rates(
        app,
        ("USD", "EUR", "0.9", utc(2026, 1, 1)),
        ("USD", "EUR", "0.5", future),  # not in force yet
        ("JPY", "USD", "0.0064", utc(2026, 2, 1)),  # inverse
        ("GBP", "USD", "1.25", utc(2026, 3, 1)),  # inverse
        ("EUR", "CHF", "0.95", utc(2026, 4, 1)),  # not reachable from USD without a USD leg
        ("USD", "KWD", "0.3065", utc(2025, 12, 1)),
    )
    response = await client.get("/api/v1/exchange-rates")
    assert response.status_code == 200
    assert response.json() == {
        "base": "USD",
        "as_of": "2026-03-01T00:00:00Z",
        "rates": {"EUR": "0.9", "JPY": "156.25", "GBP": "0.8", "KWD": "0.3065"},
    }
    eur = (await client.get("/api/v1/exchange-rates?base=eur")).json()
    assert eur["base"] == "EUR"
    # EUR→CHF direct; EUR→USD inverse; EUR→JPY and EUR→GBP cross through USD.
    assert eur["rates"] == {
        "CHF": "0.95",
        "USD": "1.11111111",
        "JPY": "173.61111111",  # (1/0.9) * (1/0.0064) = 173.6111…
        "GBP": "0.88888889",
        "KWD": "0.34055556",
    }
    assert eur["as_of"] == "2026-04-01T00:00:00Z"


async def test_exchange_rates_table_without_rates(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/exchange-rates?base=GBP")).json() == {
        "base": "GBP",
        "as_of": None,
        "rates": {},
    }


# -- conversion -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "amount", "expected"),
    [
        ("EUR", "10.01", "5.01"),  # 5.005 → half-up
        ("EUR", "0.01", "0.01"),  # 0.005
        ("EUR", "21", "10.50"),
        ("EUR", "0", "0.00"),
        ("JPY", "10.50", "1580"),  # 1580.25
        ("JPY", "1", "151"),  # 150.5 → half-up
        ("JPY", "8.205", "1235"),
        ("KWD", "1", "0.307"),  # 0.3065 → half-up
        ("KWD", "4", "1.226"),
        ("KWD", "000010", "3.065"),
    ],
)
async def test_convert_rounds_half_up_to_the_target_minor_units(
    app: Any, client: httpx.AsyncClient, to: str, amount: str, expected: str
) -> None:
    await add_rates(
        app,
        ("USD", "EUR", "0.5", utc(2026, 1, 1)),
        ("USD", "JPY", "150.5", utc(2026, 1, 2)),
        ("USD", "KWD", "0.3065", utc(2026, 1, 3)),
    )
    response = await client.get("/api/v1/convert", params={"from": "USD", "to": to, "amount": amount})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["converted_amount"] == expected
    assert body["amount"] == amount  # echoed as given
    assert (body["from"], body["to"]) == ("USD", to)


async def test_convert_uses_the_reported_derived_rate(app: Any, client: httpx.AsyncClient) -> None:
    await add_rates(app, ("EUR", "USD", "1.085", utc(2026, 2, 1)))
    body = (await client.get("/api/v1/convert?from=USD&to=EUR&amount=1000000")).json()
    # 1 / 1.085 = 0.921658986… reported as 0.92165899; 1000000 * 0.92165899 = 921658.99
    assert body == {
        "from": "USD",
        "to": "EUR",
        "amount": "1000000",
        "converted_amount": "921658.99",
        "rate": "0.92165899",
        "effective_date": "2026-02-01T00:00:00Z",
    }


async def test_convert_at_an_instant(app: Any, client: httpx.AsyncClient) -> None:
    await add_rates(app, ("EUR", "USD", "1.1", utc(2026, 1, 1)), ("EUR", "USD", "1.2", utc(2026, 2, 1)))
    early = (await client.get("/api/v1/convert?from=EUR&to=USD&amount=10&at=2026-01-20T00:00:00Z")).json()
    assert (early["converted_amount"], early["rate"]) == ("11.00", "1.1")
    assert_problem(
        await client.get("/api/v1/convert?from=EUR&to=USD&amount=10&at=2025-01-01T00:00:00Z"),
        404,
        "rate_not_found",
    )


@pytest.mark.parametrize(
    "amount",
    [
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "1e3",
        "1E3",
        "-1",
        "+1",
        "1234567890123",
        "1.123456789",
        "",
        "1,5",
        "ten",
        "0x1F",
        " 1",
        "1" * 65,
    ],
)
async def test_bad_amounts_are_422(app: Any, client: httpx.AsyncClient, amount: str) -> None:
    await add_rates(app, ("USD", "EUR", "0.5", utc(2026, 1, 1)))
    response = await client.get("/api/v1/convert", params={"from": "USD", "to": "EUR", "amount": amount})
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["query", "amount"]


async def test_convert_needs_its_parameters(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/convert?from=USD&to=EUR"), 422, "validation_error")
    assert_problem(await client.get("/api/v1/convert?to=EUR&amount=1"), 422, "validation_error")


async def test_largest_amount_converts_exactly(app: Any, client: httpx.AsyncClient) -> None:
    await add_rates(app, ("USD", "KWD", "0.3065", utc(2026, 1, 1)))
    body = (await client.get("/api/v1/convert?from=USD&to=KWD&amount=999999999999.99999999")).json()
    assert body["converted_amount"] == "306500000000.000"  # 306499999999.9999999969… → half-up


# -- documentation --------------------------------------------------------------------------------


async def test_openapi_documents_the_endpoints(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/languages",
        "/api/v1/currencies",
        "/api/v1/exchange-rates",
        "/api/v1/exchange-rates/{from}/{to}",
        "/api/v1/convert",
        "/api/v1/admin/exchange-rates",
        "/api/v1/admin/currencies/{code}",
        "/api/v1/admin/languages/{code}",
    ):
        assert path in paths, path
    assert "409" in paths["/api/v1/admin/exchange-rates"]["post"]["responses"]
    assert "404" in paths["/api/v1/convert"]["get"]["responses"]
    assert "304" in paths["/api/v1/languages"]["get"]["responses"]
    rate_in = spec["components"]["schemas"]["RateIn"]
    assert set(rate_in["properties"]) == {"from", "to", "rate", "effective_date", "source"}
    assert rate_in["properties"]["rate"]["type"] == "string"


async def test_concurrent_posts_of_one_rate_store_it_once(
    live_app: Any, live_client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(live_app, role="admin")
    body = {**RATE_BODY, "effective_date": "2026-06-01T15:00:00Z"}
    responses = await asyncio.gather(
        *(
            live_client.post("/api/v1/admin/exchange-rates", json=body, headers=admin.headers)
            for _ in range(8)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 7
    assert all(r.json()["code"] == "rate_exists" for r in responses if r.status_code == 409)
