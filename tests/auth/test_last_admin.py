"""Issue #8: the last active admin can be neither demoted, deactivated nor deleted (409 last_admin),
also when two admins are demoted at the same time."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.auth.models import User
from tests.support.app import AppWith, http_client
from tests.support.auth import PASSWORD, bearer, login, register_verified
from tests.support.factories import signed_in_user
from tests.support.problems import assert_problem

ADMIN_USERS = "/api/v1/admin/users"


@pytest.mark.parametrize("change", [{"role": "customer"}, {"is_active": False}])
async def test_the_last_admin_cannot_be_demoted_or_deactivated(
    client: httpx.AsyncClient, app: Any, change: dict[str, Any]
) -> None:
    admin = await signed_in_user(app, role="admin")
    refused = await client.patch(f"{ADMIN_USERS}/{admin.user_id}", headers=admin.headers, json=change)
    assert_problem(refused, 409, "last_admin")
    # With a second active admin, the change is allowed.
    other = await signed_in_user(app, role="admin")
    allowed = await client.patch(f"{ADMIN_USERS}/{admin.user_id}", headers=other.headers, json=change)
    assert allowed.status_code == 200
    # Now `other` is the last one.
    last = await client.patch(f"{ADMIN_USERS}/{other.user_id}", headers=other.headers, json=change)
    assert_problem(last, 409, "last_admin")


async def test_an_inactive_admin_does_not_count(client: httpx.AsyncClient, app: Any) -> None:
    admin = await signed_in_user(app, role="admin")
    dormant = await signed_in_user(app, role="admin")
    async with app.state.database.sessions() as session:
        await session.execute(update(User).where(User.id == dormant.user_id).values(is_active=False))
        await session.commit()
    refused = await client.patch(
        f"{ADMIN_USERS}/{admin.user_id}", headers=admin.headers, json={"role": "customer"}
    )
    assert_problem(refused, 409, "last_admin")
    # Demoting a customer, or the inactive admin, needs no other admin.
    customer = await signed_in_user(app)
    assert (
        await client.patch(
            f"{ADMIN_USERS}/{customer.user_id}", headers=admin.headers, json={"is_active": False}
        )
    ).status_code == 200
    assert (
        await client.patch(
            f"{ADMIN_USERS}/{dormant.user_id}", headers=admin.headers, json={"role": "customer"}
        )
    ).status_code == 200


async def test_the_last_admin_cannot_delete_itself(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    async with app.state.database.sessions() as session:
        await session.execute(update(User).where(User.email == email).values(role="admin"))
        await session.commit()
    refused = await client.request(
        "DELETE", "/api/v1/auth/me", headers=bearer(pair), json={"password": PASSWORD}
    )
    assert_problem(refused, 409, "last_admin")
    assert (await client.get("/api/v1/auth/me", headers=bearer(pair))).status_code == 200
    await signed_in_user(app, role="admin")
    deleted = await client.request(
        "DELETE", "/api/v1/auth/me", headers=bearer(pair), json={"password": PASSWORD}
    )
    assert deleted.status_code == 204


async def test_the_last_two_admins_demoting_themselves_at_once(
    app_with: AppWith, engine: AsyncEngine
) -> None:
    """Real concurrency (the app on its own pool): the last two admins each demote (or deactivate)
    themselves at the same moment. Both guards pass; the admins' lock lets exactly one change
    through, and an active admin is always left. Without the lock both succeed."""
    changes = [{"role": "customer"}, {"is_active": False}]
    async with app_with(live=True) as app, http_client(app) as client:
        for round_ in range(6):
            admins = [await signed_in_user(app, role="admin") for _ in range(2)]
            answers = await asyncio.gather(
                *(
                    client.patch(
                        f"{ADMIN_USERS}/{admin.user_id}",
                        headers=admin.headers,
                        json=changes[(round_ + index) % 2],
                    )
                    for index, admin in enumerate(admins)
                )
            )
            statuses = sorted(answer.status_code for answer in answers)
            assert statuses == [200, 409], [answer.text for answer in answers]
            async with app.state.database.sessions() as session:
                left = await session.scalar(select(func.count()).where(User.role == "admin", User.is_active))
                assert left == 1
                # The next round starts from two fresh admins only.
                await session.execute(update(User).values(role="customer"))
                await session.commit()
