"""Answers served from memory (`shop.core.caching`): the reference routes, /money/format and the
JWK set carry `Cache-Control` and a strong `ETag`, answer `If-None-Match` with 304, never hand one
language's answer to another, and change their tag when what they say changes (an admin's change of
a currency at once; a key rotation, here or in another instance)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shop.auth.keys.service import SigningKeyService
from shop.auth.keys.tokens import RELOAD_SECONDS
from shop.core.db import Database
from tests.support.app import AppWith, http_client
from tests.support.factories import signed_in_user
from tests.support.problems import assert_problem

API = "/api/v1"
JWKS = "/.well-known/jwks.json"
CACHED = [
    f"{API}/languages",
    f"{API}/currencies",
    f"{API}/countries?lang=de",
    f"{API}/countries/DE/address-format?lang=de",
    f"{API}/money/format?amount=1234.5&currency=EUR&locale=de-CH",
]


def _strong(etag: str) -> str:
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/"), etag
    return etag


@pytest.mark.parametrize("path", CACHED)
async def test_cached_answers_carry_etag_and_cache_control_and_answer_304(
    client: httpx.AsyncClient, path: str
) -> None:
    first = await client.get(path)
    assert first.status_code == 200, first.text
    etag = _strong(first.headers["etag"])
    assert first.headers["cache-control"] == "public, max-age=300"
    assert first.headers["vary"] == "Accept-Language"
    assert first.headers["content-type"] == "application/json"
    again = await client.get(path)
    assert (again.headers["etag"], again.content) == (etag, first.content)
    for header in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        cached = await client.get(path, headers={"If-None-Match": header})
        assert cached.status_code == 304, header
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        assert cached.headers["cache-control"] == "public, max-age=300"
        assert cached.headers["x-request-id"] and cached.headers["x-content-type-options"] == "nosniff"
    stale = await client.get(path, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.content == first.content


@pytest.mark.parametrize(
    "path",
    [
        f"{API}/countries",
        f"{API}/countries/JP/address-format",
        f"{API}/money/format?amount=1234.5&currency=EUR",
    ],
)
async def test_languages_are_never_mixed(client: httpx.AsyncClient, path: str) -> None:
    """The same path in German and in French, by `lang`/`locale` and by Accept-Language, each asked
    twice in turns: every answer is its own language's, with a tag of its own."""
    query = "locale" if "money" in path else "lang"
    separator = "&" if "?" in path else "?"
    asks = {
        "de by query": (f"{path}{separator}{query}=de", {}),
        "fr by query": (f"{path}{separator}{query}=fr", {}),
        "de by header": (path, {"Accept-Language": "de"}),
        "fr by header": (path, {"Accept-Language": "fr"}),
    }
    answers: dict[str, httpx.Response] = {}
    for _ in range(2):
        for name, (url, headers) in asks.items():
            response = await client.get(url, headers=headers)
            assert response.status_code == 200, response.text
            if name in answers:
                assert response.content == answers[name].content, name
            answers[name] = response
    assert answers["de by query"].content == answers["de by header"].content
    assert answers["fr by query"].content == answers["fr by header"].content
    assert answers["de by query"].content != answers["fr by query"].content
    assert answers["de by query"].headers["etag"] != answers["fr by query"].headers["etag"]
    # A tag of one language is no match for the other.
    german_tag = answers["de by header"].headers["etag"]
    french = await client.get(path, headers={"Accept-Language": "fr", "If-None-Match": german_tag})
    assert french.status_code == 200 and french.content == answers["fr by header"].content


async def test_invalid_inputs_are_still_refused_after_a_cached_answer(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{API}/countries?lang=de")).status_code == 200
    assert_problem(await client.get(f"{API}/countries?lang=qq-zz-x"), 422, "validation_error")
    assert (await client.get(f"{API}/countries/DE/address-format")).status_code == 200
    assert_problem(await client.get(f"{API}/countries/ZZ/address-format"), 404, "unknown_country")
    assert_problem(await client.get(f"{API}/money/format?amount=1&currency=XXX"), 422, "unknown_currency")


async def test_a_deactivated_currency_is_refused_at_once(app: Any, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, role="admin")
    path = f"{API}/money/format?amount=10&currency=KWD&locale=en"
    assert (await client.get(path)).status_code == 200
    off = await client.patch(f"{API}/admin/currencies/KWD", json={"is_active": False}, headers=admin.headers)
    assert off.status_code == 200
    assert_problem(await client.get(path), 422, "unknown_currency")
    on = await client.patch(f"{API}/admin/currencies/KWD", json={"is_active": True}, headers=admin.headers)
    assert on.status_code == 200
    assert (await client.get(path)).status_code == 200


@pytest.fixture
async def keyed_apps(app_with: AppWith) -> AsyncIterator[tuple[Any, Any]]:
    """Two instances of shop (each its own key ring) on one database, signing with EdDSA."""
    async with app_with(jwt_algorithm="EdDSA") as first, app_with(jwt_algorithm="EdDSA") as second:
        yield first, second


async def test_jwks_etag_changes_after_a_rotation(keyed_apps: tuple[Any, Any]) -> None:
    app, _ = keyed_apps
    admin = await signed_in_user(app, role="admin")
    async with http_client(app) as client:
        before = await client.get(JWKS)
        etag = _strong(before.headers["etag"])
        assert before.headers["cache-control"] == "public, max-age=60"
        unchanged = await client.get(JWKS, headers={"If-None-Match": etag})
        assert unchanged.status_code == 304 and unchanged.content == b""
        assert (await client.post("/api/v1/admin/keys/rotate", headers=admin.headers)).status_code == 200
        after = await client.get(JWKS, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert _strong(after.headers["etag"]) != etag
    assert {k["kid"] for k in after.json()["keys"]} != {k["kid"] for k in before.json()["keys"]}


async def test_jwks_of_another_instance_follows_a_rotation(keyed_apps: tuple[Any, Any], db: Database) -> None:
    """A rotation made elsewhere (another instance, `shop keys rotate`) reaches this instance's JWK
    set when its key ring reloads, within RELOAD_SECONDS: the ETag changes then."""
    _, other = keyed_apps
    async with http_client(other) as client:
        before = await client.get(JWKS)
        etag = before.headers["etag"]
        async with db.unit_of_work() as session:
            await SigningKeyService(session, other.state.settings).rotate()
        await asyncio.sleep(RELOAD_SECONDS + 0.5)
        after = await client.get(JWKS, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    assert {k["kid"] for k in after.json()["keys"]} != {k["kid"] for k in before.json()["keys"]}
