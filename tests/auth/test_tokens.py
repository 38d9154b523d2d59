"""Access tokens and the bearer guard; refresh-token rotation and reuse detection."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import delete, select, text, update

from shop.auth.models import RefreshToken, User
from tests.support.app import AppWith, http_client
from tests.support.auth import bearer, login, register_verified
from tests.support.problems import assert_problem

ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"


async def signed_in(client: httpx.AsyncClient, app: Any) -> dict[str, Any]:
    return await login(client, await register_verified(client, app))


async def test_access_token_claims(client: httpx.AsyncClient, app: Any) -> None:
    pair = await signed_in(client, app)
    claims = decode(app, pair["access_token"])
    assert set(claims) == {"sub", "sid", "jti", "iat", "exp", "type", "iss", "aud", "amr"}
    assert claims["type"] == "access"
    assert claims["amr"] == ["pwd"]  # a password alone: no second step
    # JWT_ISSUER defaults to PUBLIC_URL, JWT_AUDIENCE to "shop"; HS256 tokens name their key too.
    assert claims["iss"] == "http://shop.test" and claims["aud"] == "shop"
    header = jwt.get_unverified_header(pair["access_token"])
    assert header["alg"] == "HS256" and header["kid"].startswith("hs256-")
    assert app.state.settings.signing_key()[:8] not in header["kid"]
    assert claims["sub"] == pair["user"]["id"]
    assert claims["exp"] - claims["iat"] == 3600
    uuid.UUID(claims["sid"])


def decode(app: Any, token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, app.state.settings.signing_key(), algorithms=["HS256"], audience="shop"))


def forge(app: Any, pair: dict[str, Any], **changes: Any) -> str:
    claims = decode(app, pair["access_token"])
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, app.state.settings.signing_key(), algorithm="HS256")


async def test_missing_credentials(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
        response = await client.get(ME, headers=headers)
        assert_problem(response, 401, "not_authenticated")
        assert response.headers["www-authenticate"] == "Bearer"


async def test_forged_tokens_are_refused(client: httpx.AsyncClient, app: Any) -> None:
    pair = await signed_in(client, app)
    header, payload, signature = pair["access_token"].split(".")
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    unsigned = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    tampered_payload = jwt.encode({**claims, "sub": str(uuid.uuid4())}, "k" * 32, algorithm="HS256").split(
        "."
    )[1]
    cases = {
        "alg none": unsigned,
        "tampered payload": f"{header}.{tampered_payload}.{signature}",
        "tampered signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "other key": jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256"),
        "refresh as access": pair["refresh_token"],
        "wrong type": forge(app, pair, type="refresh"),
        "garbage": "not.a.jwt",
        "sub not uuid": forge(app, pair, sub="admin"),
        "another issuer": forge(app, pair, iss="https://elsewhere.example"),
        "another audience": forge(app, pair, aud="orders"),
        "audience list": forge(app, pair, aud=["shop", "orders"]),
        "no issuer": forge(app, pair, iss=None),
        "no audience": forge(app, pair, aud=None),
    }
    for name, token in cases.items():
        response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["code"] == "token_invalid", name
        assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_access_token(client: httpx.AsyncClient, app: Any) -> None:
    pair = await signed_in(client, app)
    now = datetime.now(UTC)
    token = forge(
        app,
        pair,
        iat=int((now - timedelta(hours=2)).timestamp()),
        exp=int((now - timedelta(seconds=5)).timestamp()),
    )
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "token_expired")


async def test_token_of_a_deleted_user_is_refused(client: httpx.AsyncClient, app: Any) -> None:
    pair = await signed_in(client, app)
    async with app.state.database.sessions() as session:
        await session.execute(delete(User).where(User.id == uuid.UUID(pair["user"]["id"])))
        await session.commit()
    response = await client.get(ME, headers=bearer(pair))
    assert_problem(response, 401, "token_revoked")


async def test_refresh_rotates(client: httpx.AsyncClient, app: Any) -> None:
    pair = await signed_in(client, app)
    response = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200
    new = response.json()
    assert new["refresh_token"] != pair["refresh_token"]
    assert new["access_token"] != pair["access_token"]
    assert (await client.get(ME, headers=bearer(new))).status_code == 200
    # The refresh tokens are stored only as hashes.
    async with app.state.database.sessions() as session:
        stored = (await session.scalars(select(RefreshToken.token_hash))).all()
    assert hashlib.sha256(new["refresh_token"].encode()).digest() in stored
    assert new["refresh_token"].encode() not in stored


async def test_reuse_within_grace_keeps_the_session(client: httpx.AsyncClient, app: Any) -> None:
    pair = await signed_in(client, app)
    new = (await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})).json()
    again = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert_problem(again, 401, "token_reused")
    assert again.headers["www-authenticate"] == "Bearer"
    assert (await client.get(ME, headers=bearer(new))).status_code == 200
    assert (await client.post(REFRESH, json={"refresh_token": new["refresh_token"]})).status_code == 200


async def test_reuse_after_grace_revokes_the_session(client: httpx.AsyncClient, app: Any) -> None:
    pair = await signed_in(client, app)
    new = (await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})).json()
    async with app.state.database.sessions() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.rotated_at.is_not(None))
            .values(rotated_at=text("now() - interval '11 seconds'"))
        )
        await session.commit()
    reuse = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert_problem(reuse, 401, "token_reused")
    # The whole session is gone: its access tokens and its newest refresh token.
    me = await client.get(ME, headers=bearer(new))
    assert_problem(me, 401, "token_revoked")
    later = await client.post(REFRESH, json={"refresh_token": new["refresh_token"]})
    assert_problem(later, 401, "token_revoked")


async def test_grace_zero_revokes_at_once(app_with: AppWith) -> None:
    async with app_with(refresh_reuse_grace_seconds=0) as app, http_client(app) as client:
        pair = await signed_in(client, app)
        new = (await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})).json()
        reuse = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
        assert reuse.json()["code"] == "token_reused"
        assert (await client.get(ME, headers=bearer(new))).json()["code"] == "token_revoked"


async def test_unknown_and_expired_refresh_tokens(client: httpx.AsyncClient, app: Any) -> None:
    unknown = await client.post(REFRESH, json={"refresh_token": "unknown-token"})
    assert_problem(unknown, 401, "token_invalid")
    pair = await signed_in(client, app)
    async with app.state.database.sessions() as session:
        await session.execute(update(RefreshToken).values(expires_at=text("now() - interval '1 second'")))
        await session.commit()
    expired = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert_problem(expired, 401, "token_expired")


async def test_new_refresh_token_lives_its_ttl_from_issue(client: httpx.AsyncClient, app: Any) -> None:
    pair = await signed_in(client, app)
    new = (await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})).json()
    digest = hashlib.sha256(new["refresh_token"].encode()).digest()
    async with app.state.database.sessions() as session:
        seconds = await session.scalar(
            text(
                "SELECT extract(epoch FROM expires_at - created_at) FROM auth.refresh_tokens WHERE token_hash = :h"
            ),
            {"h": digest},
        )
        session_expiry = await session.scalar(
            text(
                "SELECT s.expires_at = t.expires_at FROM auth.sessions s JOIN auth.refresh_tokens t "
                "ON t.session_id = s.id WHERE t.token_hash = :h"
            ),
            {"h": digest},
        )
    assert round(float(seconds)) == 2592000
    assert session_expiry is True  # the session's expires_at is its refresh token's


@pytest.mark.parametrize("payload", [{}, {"refresh_token": ""}, {"refresh_token": "x", "extra": 1}])
async def test_refresh_body_validation(client: httpx.AsyncClient, payload: dict[str, Any]) -> None:
    response = await client.post(REFRESH, json=payload)
    assert response.status_code == 422
