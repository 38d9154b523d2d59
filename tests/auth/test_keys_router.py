"""Keys for other services over HTTP: the JWK set, RFC 8414 metadata, the admin key routes, and
the bearer guard with EdDSA/ES256/RS256 (in process; tests/e2e/test_jwks.py does it end to end)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.support.app import AppWith, http_client
from tests.support.factories import signed_in_user
from tests.support.problems import assert_problem

JWKS = "/.well-known/jwks.json"
METADATA = "/.well-known/oauth-authorization-server"
KEYS = "/api/v1/admin/keys"
ME = "/api/v1/auth/me"
KEY_FIELDS = {"kid", "alg", "state", "created_at", "activated_at", "retired_at"}


@pytest.fixture(params=["EdDSA", "ES256", "RS256"])
async def keyed_app(request: pytest.FixtureRequest, app_with: AppWith) -> AsyncIterator[Any]:
    async with app_with(jwt_algorithm=request.param) as application:
        yield application


@pytest.fixture
async def keyed(keyed_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(keyed_app) as client:
        yield client


async def test_hs256_publishes_no_keys_and_cannot_rotate(client: httpx.AsyncClient, app: Any) -> None:
    response = await client.get(JWKS)
    assert response.status_code == 200 and response.json() == {"keys": []}
    assert response.headers["cache-control"] == "public, max-age=60"
    admin = await signed_in_user(app, role="admin")
    listing = await client.get(KEYS, headers=admin.headers)
    assert listing.status_code == 200 and listing.json() == []
    assert_problem(
        await client.post(f"{KEYS}/rotate", headers=admin.headers), 409, "key_rotation_unavailable"
    )


async def test_metadata_says_only_what_shop_supports(client: httpx.AsyncClient) -> None:
    response = await client.get(METADATA)
    assert response.status_code == 200
    assert response.json() == {
        "issuer": "http://shop.test",
        "jwks_uri": "http://shop.test/.well-known/jwks.json",
        "token_endpoint": "http://shop.test/api/v1/auth/token",
        "grant_types_supported": ["password"],
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": [],
    }
    assert response.headers["cache-control"].startswith("public, max-age=")


async def test_issuer_and_audience_follow_their_settings(app_with: AppWith) -> None:
    async with (
        app_with(jwt_issuer="https://id.example.com/", jwt_audience="platform") as application,
        http_client(application) as client,
    ):
        assert (await client.get(METADATA)).json()["issuer"] == "https://id.example.com"
        user = await signed_in_user(application)
        token = user.headers["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["iss"] == "https://id.example.com" and claims["aud"] == "platform"
        assert (await client.get(ME, headers=user.headers)).status_code == 200


async def test_jwks_publishes_active_and_next_public_keys(keyed: httpx.AsyncClient, keyed_app: Any) -> None:
    algorithm = keyed_app.state.settings.jwt_algorithm
    response = await keyed.get(JWKS)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=60"
    assert "no-store" not in response.headers["cache-control"]
    keys = response.json()["keys"]
    assert len(keys) == 2
    for jwk in keys:
        assert jwk["alg"] == algorithm and jwk["use"] == "sig" and jwk["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)  # never a private parameter
    user = await signed_in_user(keyed_app)
    token = user.headers["Authorization"].removeprefix("Bearer ")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == algorithm
    # The token verifies with the published key its kid names, and nothing else is needed.
    jwk = next(k for k in keys if k["kid"] == header["kid"])
    claims = jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=[algorithm], audience="shop", issuer="http://shop.test"
    )
    assert claims["sub"] == str(user.user_id)
    assert (await keyed.get(ME, headers=user.headers)).status_code == 200


async def test_rotation_over_http(keyed: httpx.AsyncClient, keyed_app: Any) -> None:
    admin = await signed_in_user(keyed_app, role="admin")
    before = await keyed.get(KEYS, headers=admin.headers)
    assert before.status_code == 200
    assert [k["state"] for k in before.json()] == ["next", "active"]
    assert all(set(k) == KEY_FIELDS for k in before.json())
    old_token = admin.headers
    rotated = await keyed.post(f"{KEYS}/rotate", headers=admin.headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    states = {k["state"]: k for k in rotated.json()}
    assert [k["state"] for k in rotated.json()] == ["next", "active", "retired"]
    assert states["active"]["kid"] == before.json()[0]["kid"]
    assert states["retired"]["kid"] == before.json()[1]["kid"] and states["retired"]["retired_at"]
    # The token signed before the rotation still works; new tokens carry the new active kid.
    assert (await keyed.get(ME, headers=old_token)).status_code == 200
    fresh = await signed_in_user(keyed_app)
    assert jwt.get_unverified_header(fresh.headers["Authorization"][7:])["kid"] == states["active"]["kid"]
    published = {k["kid"] for k in (await keyed.get(JWKS)).json()["keys"]}
    assert published == {k["kid"] for k in rotated.json()}


async def test_key_routes_are_for_admins(keyed: httpx.AsyncClient, keyed_app: Any) -> None:
    customer = await signed_in_user(keyed_app)
    assert_problem(await keyed.get(KEYS, headers=customer.headers), 403, "forbidden")
    assert_problem(await keyed.post(f"{KEYS}/rotate", headers=customer.headers), 403, "forbidden")
    assert_problem(await keyed.get(KEYS), 401, "not_authenticated")


async def test_hs256_token_is_refused_once_keys_are_asymmetric(
    keyed: httpx.AsyncClient, keyed_app: Any
) -> None:
    """Confusion the other way round: an HS256 token, even one signed with the real secret, is not
    accepted by an instance that verifies with key pairs."""
    user = await signed_in_user(keyed_app)
    claims = jwt.decode(user.headers["Authorization"][7:], options={"verify_signature": False})
    kid = jwt.get_unverified_header(user.headers["Authorization"][7:])["kid"]
    forged = jwt.encode(
        claims, keyed_app.state.settings.signing_key(), algorithm="HS256", headers={"kid": kid}
    )
    assert_problem(await keyed.get(ME, headers={"Authorization": f"Bearer {forged}"}), 401, "token_invalid")


async def test_openapi_lists_the_key_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    ids = {
        (method, path): operation["operationId"]
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }
    assert ids[("get", JWKS)] == "keys_jwks"
    assert ids[("get", METADATA)] == "keys_authorization_server_metadata"
    assert ids[("get", KEYS)] == "keys_list"
    assert ids[("post", f"{KEYS}/rotate")] == "keys_rotate"
    rotate = spec["paths"][f"{KEYS}/rotate"]["post"]["responses"]
    assert "409" in rotate and "application/problem+json" in rotate["409"]["content"]


def test_shop_keys_rotate_exits_non_zero_with_hs256(tmp_path: Path, database_url: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path),
        "JWT_SECRET_KEY": "k" * 40,
        "JWT_ALGORITHM": "HS256",
    }
    done = subprocess.run(
        [sys.executable, "-m", "shop", "keys", "rotate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "HS256" in done.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "shop", "keys", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listing.returncode == 0 and "HS256" in listing.stdout
