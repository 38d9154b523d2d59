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
from shop.core.caching import FrontAnswers, Rendered
from shop.core.db import Database
from shop.core.metrics import REGISTRY, REQUEST_METRICS
from shop.localization.active import ACTIVE_CURRENCIES_TTL_SECONDS
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


def _scope(path: str, query: bytes, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "query_string": query, "headers": list(headers)}


def _requests_of(route: str) -> float:
    REQUEST_METRICS.flush()  # written at the end of the event loop's turn, as a scrape does first
    labels = {"method": "GET", "route": route, "status": "200"}
    return REGISTRY.get_sample_value("shop_http_requests_total", labels) or 0.0


async def test_a_repeated_request_is_answered_before_routing_and_counted_under_its_route(
    app: Any, client: httpx.AsyncClient
) -> None:
    """The route renders once and leaves its answer with the app's FrontAnswers; the same path,
    query and Accept-Language is then answered by the request guard, with every header of a routed
    answer, and the metrics still name the route."""
    german = (b"accept-language", b"de")
    assert app.state.front_answers.answer(_scope(f"{API}/countries", b"lang=fr", german)) is None
    counted = _requests_of(f"{API}/countries")
    first = await client.get(f"{API}/countries?lang=fr", headers={"Accept-Language": "de"})
    assert first.status_code == 200 and first.json()[0]["name"] == "Afghanistan"
    scope = _scope(f"{API}/countries", b"lang=fr", german)
    ready = app.state.front_answers.answer(scope)
    assert ready is not None and ready.body == first.content
    assert scope["route"].endpoint.__name__ == "list_countries"
    # Another query, another Accept-Language or another path is not that answer.
    for other in (
        _scope(f"{API}/countries", b"lang=de", german),
        _scope(f"{API}/countries", b"lang=fr", (b"accept-language", b"fr")),
        _scope(f"{API}/countries", b"lang=fr"),
        _scope(f"{API}/countries/DE/address-format", b"lang=fr", german),
    ):
        assert app.state.front_answers.answer(other) is None, other
    again = await client.get(f"{API}/countries?lang=fr", headers={"Accept-Language": "de"})
    assert again.content == first.content
    assert {name: again.headers[name] for name in ("etag", "cache-control", "vary", "content-type")} == {
        name: first.headers[name] for name in ("etag", "cache-control", "vary", "content-type")
    }
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert again.headers["content-security-policy"] == first.headers["content-security-policy"]
    assert _requests_of(f"{API}/countries") == counted + 2


async def test_a_front_answer_holds_only_while_it_is_valid(app: Any, client: httpx.AsyncClient) -> None:
    """/money/format is answered before routing only while the process knows its currency active
    without a new read: once the codes are due (another process may have switched it off), the
    request goes to its route again."""
    path, query = f"{API}/money/format", b"amount=5&currency=EUR&locale=de"
    assert (await client.get(f"{path}?{query.decode()}")).status_code == 200
    assert app.state.front_answers.answer(_scope(path, query)) is not None
    app.state.active_currencies._read_at -= ACTIVE_CURRENCIES_TTL_SECONDS
    assert app.state.front_answers.answer(_scope(path, query)) is None
    assert (await client.get(f"{path}?{query.decode()}")).status_code == 200
    assert app.state.front_answers.answer(_scope(path, query)) is not None


def test_front_answers_are_bounded_and_the_oldest_goes_first() -> None:
    answers = FrontAnswers(size=2)
    rendered = Rendered(b"{}", cache_control="public, max-age=300")
    for query in (b"a", b"b", b"b"):  # remembered again: nothing else goes
        answers.remember(_scope("/x", query), rendered, None)
    assert answers.answer(_scope("/x", b"a")) is not None
    answers.remember(_scope("/x", b"c"), rendered, None)
    assert answers.answer(_scope("/x", b"a")) is None
    assert answers.answer(_scope("/x", b"b")) is not None
    assert answers.answer(_scope("/x", b"c")) is not None
