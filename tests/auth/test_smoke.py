from __future__ import annotations

from typing import Any

import httpx

from tests.auth.helpers import bearer, login, register_verified


async def test_register_verify_login_me(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email.upper())
    me = await client.get("/api/v1/auth/me", headers=bearer(pair))
    assert me.status_code == 200, me.text
    assert me.json()["email"] == email
    assert me.json()["email_verified"] is True
