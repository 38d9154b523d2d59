"""Who may read /metrics: METRICS_TOKEN, else development and test, else METRICS_PUBLIC in production."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.app import AppWith, http_client
from tests.support.problems import assert_problem

TOKEN = "metrics-token-" + "m" * 30


async def scrape(app_with: AppWith, headers: dict[str, str], **settings: Any) -> Any:
    # Built, not started: the lifespan of a production app would install its own log handlers.
    async with app_with(lifespan=False, **settings) as app, http_client(app) as client:
        return await client.get("/metrics", headers=headers)


@pytest.mark.parametrize(
    "settings",
    [
        {"environment": "development"},
        {"environment": "test"},
        {"environment": "production", "metrics_public": True},
    ],
)
async def test_without_a_token_it_answers_where_it_may(app_with: AppWith, settings: dict[str, Any]) -> None:
    response = await scrape(app_with, {}, **settings)
    assert response.status_code == 200
    assert "shop_http_requests_total" in response.text


async def test_in_production_it_is_not_there_unless_made_public(app_with: AppWith) -> None:
    response = await scrape(app_with, {}, environment="production")
    assert_problem(response, 404, "not_found")
    assert "shop_" not in response.text


@pytest.mark.parametrize("environment", ["development", "production"])
async def test_with_a_token_only_that_token_reads_it(app_with: AppWith, environment: str) -> None:
    settings = {"environment": environment, "metrics_token": TOKEN, "metrics_public": True}
    missing = await scrape(app_with, {}, **settings)
    assert_problem(missing, 401, "not_authenticated")
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await scrape(app_with, {"Authorization": f"Bearer {TOKEN}x"}, **settings)
    assert_problem(wrong, 401, "token_invalid")
    basic = await scrape(app_with, {"Authorization": f"Basic {TOKEN}"}, **settings)
    assert_problem(basic, 401, "not_authenticated")
    right = await scrape(app_with, {"Authorization": f"Bearer {TOKEN}"}, **settings)
    assert right.status_code == 200
    assert "shop_http_requests_total" in right.text
