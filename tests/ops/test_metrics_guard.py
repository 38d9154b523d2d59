"""Who may read /metrics: METRICS_TOKEN, else development and test, else METRICS_PUBLIC in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shop.bootstrap import create_app
from shop.core.db import Database
from tests.support.app import http_client, make_settings
from tests.support.problems import assert_problem

TOKEN = "metrics-token-" + "m" * 30


async def scrape(
    database_url: str, db: Database, tmp_path: Path, headers: dict[str, str], **settings: Any
) -> Any:
    app = create_app(
        make_settings(database_url, tmp_path, **settings), database=db, run_background_loops=False
    )
    async with http_client(app) as client:
        return await client.get("/metrics", headers=headers)


@pytest.mark.parametrize(
    "settings",
    [
        {"environment": "development"},
        {"environment": "test"},
        {"environment": "production", "metrics_public": True},
    ],
)
async def test_without_a_token_it_answers_where_it_may(
    database_url: str, db: Database, tmp_path: Path, settings: dict[str, Any]
) -> None:
    response = await scrape(database_url, db, tmp_path, {}, **settings)
    assert response.status_code == 200
    assert "shop_http_requests_total" in response.text


async def test_in_production_it_is_not_there_unless_made_public(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    response = await scrape(database_url, db, tmp_path, {}, environment="production")
    assert_problem(response, 404, "not_found")
    assert "shop_" not in response.text


@pytest.mark.parametrize("environment", ["development", "production"])
async def test_with_a_token_only_that_token_reads_it(
    database_url: str, db: Database, tmp_path: Path, environment: str
) -> None:
    settings = {"environment": environment, "metrics_token": TOKEN, "metrics_public": True}
    missing = await scrape(database_url, db, tmp_path, {}, **settings)
    assert_problem(missing, 401, "not_authenticated")
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await scrape(database_url, db, tmp_path, {"Authorization": f"Bearer {TOKEN}x"}, **settings)
    assert_problem(wrong, 401, "token_invalid")
    basic = await scrape(database_url, db, tmp_path, {"Authorization": f"Basic {TOKEN}"}, **settings)
    assert_problem(basic, 401, "not_authenticated")
    right = await scrape(database_url, db, tmp_path, {"Authorization": f"Bearer {TOKEN}"}, **settings)
    assert right.status_code == 200
    assert "shop_http_requests_total" in right.text
