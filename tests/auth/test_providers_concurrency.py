"""Provider sign-in under concurrency, on the app's own connection pool: a one-time code exchanged by
two requests at once signs in once; two unlinks at once never leave an account without a password
with no way in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support.app import AppWith, http_client
from tests.support.auth import bearer
from tests.support.oidc import (
    ProviderDouble,
    answer_at_mock,
    back_at_shop,
    exchange,
    mock_provider,
    provider_settings,
    set_mock_user,
    start,
)

AUTH = "/api/v1/auth"


@pytest.fixture(scope="module")
def issuers() -> Iterator[tuple[str, ProviderDouble]]:
    with mock_provider() as local, ProviderDouble() as double:
        yield local, double


@pytest.fixture
async def live(app_with: AppWith, issuers: tuple[str, ProviderDouble]) -> AsyncIterator[httpx.AsyncClient]:
    settings = provider_settings(issuers[0], issuers[1].issuer)
    async with app_with(live=True, **settings) as application, http_client(application) as client:
        yield client


async def signed_in_code(client: httpx.AsyncClient, local: str, sub: str, **claims: Any) -> tuple[str, str]:
    if claims:
        await set_mock_user(local, sub, **claims)
    started = await start(client, "local")
    query = await back_at_shop(client, await answer_at_mock(started.authorization_url, sub))
    return query["code"], started.verifier


async def test_a_code_exchanged_twice_at_once_signs_in_once(
    live: httpx.AsyncClient, issuers: tuple[str, ProviderDouble]
) -> None:
    code, verifier = await signed_in_code(
        live, issuers[0], "racer@example.com", email="racer@example.com", email_verified=True
    )
    answers = await asyncio.gather(*(exchange(live, code, verifier) for _ in range(4)))
    assert sorted(answer.status_code for answer in answers) == [200, 400, 400, 400]


async def test_two_unlinks_at_once_keep_a_way_in(
    live: httpx.AsyncClient, issuers: tuple[str, ProviderDouble]
) -> None:
    local, double = issuers
    code, verifier = await signed_in_code(
        live, local, "two-ways@example.com", email="two-ways@example.com", email_verified=True
    )
    pair = (await exchange(live, code, verifier)).json()
    double.claims = {"sub": "two-ways-at-double"}
    started = await start(live, "double", intent="link", headers=bearer(pair))
    async with httpx.AsyncClient() as browser:
        callback = (await browser.get(started.authorization_url)).headers["location"]
    assert await back_at_shop(live, callback) == {"linked": "double"}
    identities = (await live.get(f"{AUTH}/identities", headers=bearer(pair))).json()
    assert len(identities) == 2

    answers = await asyncio.gather(
        *(live.request("DELETE", f"{AUTH}/identities/{i['id']}", headers=bearer(pair)) for i in identities)
    )
    assert sorted(answer.status_code for answer in answers) == [204, 409]
    assert len((await live.get(f"{AUTH}/me", headers=bearer(pair))).json()["identities"]) == 1
