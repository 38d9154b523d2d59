"""The admin routes of webhooks, in a rolled-back transaction: endpoints, their secret shown only at
creation and rotation, deliveries, and the targets refused when saved."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shop.core.config import Settings
from shop.webhooks.models import Endpoint
from shop.webhooks.targets import check_url
from tests.support.factories import signed_in_user
from tests.support.problems import assert_problem
from tests.support.webhooks import ENDPOINTS

PUBLIC = "https://8.8.8.8/hooks/shop"  # a public address literal: no name to resolve


async def test_an_endpoint_from_creation_to_deletion(client: httpx.AsyncClient, app: Any) -> None:
    admin = (await signed_in_user(app, role="admin")).headers
    created = await client.post(
        ENDPOINTS,
        json={
            "url": PUBLIC,
            "events": ["user.deleted", "address.created", "user.deleted"],
            "description": "orders",
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    secret = endpoint.pop("secret")
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert endpoint["events"] == ["user.deleted", "address.created"] and endpoint["is_active"] is True
    # Sealed at rest: the secret's bytes are nowhere in the row.
    async with app.state.database.sessions() as session:
        stored = (await session.scalars(select(Endpoint).where(Endpoint.id == endpoint["id"]))).one()
    assert secret.encode() not in stored.secret and base64.b64decode(secret[6:]) not in stored.secret

    listed = await client.get(ENDPOINTS, headers=admin)
    assert listed.status_code == 200 and listed.json() == [endpoint]

    one = f"{ENDPOINTS}/{endpoint['id']}"
    patched = await client.patch(one, json={"events": ["*"], "is_active": False}, headers=admin)
    assert (
        patched.status_code == 200 and patched.json()["events"] == ["*"] and not patched.json()["is_active"]
    )
    assert_problem(await client.patch(one, json={"url": None}, headers=admin), 422, "validation_error")

    rotated = await client.post(f"{one}/rotate-secret", headers=admin)
    assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != secret

    assert (await client.post(f"{one}/test", headers=admin)).status_code == 202
    deliveries = (await client.get(f"{one}/deliveries", params={"status": "pending"}, headers=admin)).json()
    assert [d["type"] for d in deliveries] == ["webhook.test"]
    assert deliveries[0]["status"] == "pending" and deliveries[0]["attempts"] == 0
    assert (await client.get(f"{one}/deliveries?status=failed", headers=admin)).json() == []
    retry = f"{one}/deliveries/{deliveries[0]['id']}/retry"
    assert (await client.post(retry, headers=admin)).status_code == 202

    assert (await client.delete(one, headers=admin)).status_code == 204
    for method, path in [
        ("PATCH", one),
        ("DELETE", one),
        ("POST", f"{one}/rotate-secret"),
        ("POST", f"{one}/test"),
        ("GET", f"{one}/deliveries"),
        ("POST", retry),
    ]:
        body = {"description": "x"} if method == "PATCH" else None
        assert_problem(await client.request(method, path, json=body, headers=admin), 404, "not_found")


async def test_only_admins_manage_webhooks(client: httpx.AsyncClient, app: Any) -> None:
    customer = (await signed_in_user(app)).headers
    assert_problem(await client.get(ENDPOINTS, headers=customer), 403, "forbidden")
    body = {"url": PUBLIC, "events": ["*"]}
    assert_problem(await client.post(ENDPOINTS, json=body, headers=customer), 403, "forbidden")
    assert_problem(await client.get(ENDPOINTS), 401, "not_authenticated")


@pytest.mark.parametrize(
    "body",
    [
        {"url": PUBLIC, "events": []},
        {"url": PUBLIC, "events": ["user.exploded"]},
        {"url": "ftp://8.8.8.8/", "events": ["*"]},
        {"url": PUBLIC, "events": ["*"], "secret": "whsec_mine"},
    ],
)
async def test_bad_endpoints_are_refused(client: httpx.AsyncClient, app: Any, body: dict[str, Any]) -> None:
    admin = (await signed_in_user(app, role="admin")).headers
    assert_problem(await client.post(ENDPOINTS, json=body, headers=admin), 422, "validation_error")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:8080/hook",  # a name that resolves to a loopback address
        "http://10.0.0.7/hook",
        "http://0.0.0.0/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://224.0.0.1/hook",
    ],
)
async def test_targets_that_are_not_public_are_refused_when_saved(
    client: httpx.AsyncClient, app: Any, url: str
) -> None:
    admin = (await signed_in_user(app, role="admin")).headers
    assert_problem(
        await client.post(ENDPOINTS, json={"url": url, "events": ["*"]}, headers=admin),
        422,
        "webhook_target_not_allowed",
    )
    saved = (await client.post(ENDPOINTS, json={"url": PUBLIC, "events": ["*"]}, headers=admin)).json()
    assert_problem(
        await client.patch(f"{ENDPOINTS}/{saved['id']}", json={"url": url}, headers=admin),
        422,
        "webhook_target_not_allowed",
    )


async def test_production_takes_https_only_unless_allowed(settings: Settings) -> None:
    production = settings.model_copy(update={"environment": "production"})
    assert await check_url("http://8.8.8.8/hook", production) == "The URL must use https."
    assert await check_url("https://8.8.8.8/hook", production) is None
    insecure = production.model_copy(update={"webhook_allow_insecure": True})
    assert await check_url("http://8.8.8.8/hook", insecure) is None
    private = settings.model_copy(update={"webhook_allow_private_targets": True})
    assert await check_url("http://127.0.0.1:9/hook", private) is None
