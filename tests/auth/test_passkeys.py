"""Passkeys over HTTP with a software authenticator (tests/support/webauthn.py: real ES256 and EdDSA
keys, `none` attestation): registration and discoverable sign-in, every refusal of WebAuthn §7.1/§7.2
changing nothing, counters and clones, management, and how passkeys meet TOTP, admins, lockout,
disabled and deleted accounts, rate limits and cookie mode."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select, text, update

from shop.auth.models import AuditEvent, Passkey, PasskeyChallenge, PasskeyUser, Session, User
from shop.auth.passkeys.repository import PasskeyRepository
from shop.auth.sessions.cookies import REFRESH_COOKIE
from tests.support.app import AppWith, http_client, make_settings
from tests.support.auth import (
    PASSWORD,
    audit_events,
    auth_upkeep,
    bearer,
    claims,
    login,
    mail_subjects,
    register,
    register_verified,
)
from tests.support.mfa import Clock, enrol
from tests.support.problems import assert_problem
from tests.support.webauthn import (
    AT,
    PASSKEYS,
    UP,
    UV,
    SoftAuthenticator,
    add_passkey,
    b64url,
    passkey_sign_in,
    registration_options,
    sign_in_options,
    unb64url,
)

ORIGIN = "http://shop.test"  # PUBLIC_URL of the tests: the default relying party is its host
ME = "/api/v1/auth/me"


async def scalar(app: Any, statement: Any) -> Any:
    async with app.state.database.sessions() as session:
        return await session.scalar(statement)


async def execute(app: Any, statement: Any) -> None:
    async with app.state.database.sessions() as session:
        await session.execute(statement)
        await session.commit()


async def user_id_of(app: Any, email: str) -> Any:
    return await scalar(app, select(User.id).where(User.email == email))


async def with_passkey(
    client: httpx.AsyncClient, app: Any, algorithm: str = "ES256"
) -> tuple[str, dict[str, Any], SoftAuthenticator]:
    email = await register_verified(client, app)
    pair = await login(client, email)
    authenticator = SoftAuthenticator(ORIGIN, algorithm=algorithm)  # type: ignore[arg-type]
    added = await add_passkey(client, pair, authenticator, PASSWORD)
    assert added.status_code == 201, added.text
    return email, pair, authenticator


async def state(app: Any, email: str) -> tuple[int, int, Any]:
    """What a refused sign-in must not change: the sessions, the counter, the last use."""
    user_id = await user_id_of(app, email)
    sessions = await scalar(app, select(func.count()).select_from(Session).where(Session.user_id == user_id))
    row = (
        await scalar(app, select(func.array_agg(Passkey.sign_count)).where(Passkey.user_id == user_id))
    ) or [0]
    last = await scalar(app, select(func.max(Passkey.last_used_at)).where(Passkey.user_id == user_id))
    return sessions, sum(row), last


async def events(app: Any, event: str, email: str) -> list[AuditEvent]:
    return await audit_events(app, await user_id_of(app, email), event)


# -- registration and sign-in ---------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
async def test_add_a_passkey_and_sign_in_with_no_email(
    client: httpx.AsyncClient, app: Any, algorithm: str
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    options = await registration_options(client, pair, PASSWORD)
    assert options.status_code == 200, options.text
    body = options.json()
    assert body["rp"] == {"id": "shop.test", "name": "shop"}
    assert body["user"]["name"] == body["user"]["displayName"] == email
    handle = unb64url(body["user"]["id"])
    assert len(handle) == 32 and str(await user_id_of(app, email)).encode() not in handle
    assert len(unb64url(body["challenge"])) == 32
    assert [p["alg"] for p in body["pubKeyCredParams"]] == [-8, -7, -257]
    assert body["authenticatorSelection"]["residentKey"] == "required"
    assert body["authenticatorSelection"]["userVerification"] == "required"
    assert body["attestation"] == "none" and body["timeout"] == 300_000 and body["excludeCredentials"] == []
    # Only the hash of the challenge is stored.
    stored = await scalar(
        app, select(PasskeyChallenge.challenge_hash).where(PasskeyChallenge.purpose == "register")
    )
    assert stored != unb64url(body["challenge"]) and len(stored) == 32

    authenticator = SoftAuthenticator(ORIGIN, algorithm=algorithm, aaguid=bytes(range(16)))  # type: ignore[arg-type]
    credential = authenticator.create(body)
    added = await client.post(
        PASSKEYS, json={"credential": credential, "name": "Laptop"}, headers=bearer(pair)
    )
    assert added.status_code == 201, added.text
    passkey = added.json()
    assert set(passkey) == {"id", "name", "created_at", "last_used_at", "backed_up", "transports", "aaguid"}
    assert passkey["name"] == "Laptop" and passkey["last_used_at"] is None and passkey["backed_up"] is False
    assert passkey["transports"] == ["internal", "hybrid"]
    assert passkey["aaguid"] == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert (await client.get(ME, headers=bearer(pair))).json()["passkeys"] == 1
    assert "A passkey was added to your account" in await mail_subjects(app, email)
    # The next options exclude it.
    again = (await registration_options(client, pair, PASSWORD)).json()
    assert [c["id"] for c in again["excludeCredentials"]] == [credential["id"]]

    request = await sign_in_options(client)
    assert request["rpId"] == "shop.test" and request["userVerification"] == "required"
    assert request.get("allowCredentials", []) == []
    signed_in = await client.post(f"{PASSKEYS}/authenticate", json={"credential": authenticator.get(request)})
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()
    assert tokens["user"]["email"] == email and tokens["refresh_token"]
    assert claims(tokens)["amr"] == ["pop", "mfa"]
    # A refresh keeps how the session signed in.
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert claims(refreshed.json())["amr"] == ["pop", "mfa"]
    listed = (await client.get(PASSKEYS, headers=bearer(tokens))).json()
    assert listed[0]["last_used_at"] is not None
    assert [e.outcome for e in await events(app, "passkey_sign_in", email)] == ["success"]


async def test_every_refused_sign_in_answers_alike_and_changes_nothing(
    client: httpx.AsyncClient, app: Any
) -> None:
    email, _, authenticator = await with_passkey(client, app)
    _, _, other = await with_passkey(client, app)
    ok = await passkey_sign_in(client, authenticator)
    assert ok.status_code == 200, ok.text
    before = await state(app, email)
    (credential_id,) = authenticator.credentials

    # A replayed assertion: its challenge was spent by the sign-in it came with.
    request = await sign_in_options(client)
    assertion = authenticator.get(request)
    assert (await client.post(f"{PASSKEYS}/authenticate", json={"credential": assertion})).status_code == 200
    before = await state(app, email)
    replayed = await client.post(f"{PASSKEYS}/authenticate", json={"credential": assertion})
    assert_problem(replayed, 401, "invalid_credentials")

    cases: dict[str, dict[str, Any]] = {
        "wrong RP ID hash": {"rp_id": "evil.test"},
        "bad signature": {"bad_signature": True},
        "not user-verified": {"flags": UP},
        "not user-present": {"flags": UV},
        "origin not accepted": {"origin": "http://evil.test"},
        "counter going back": {"sign_count": 1},
        "userHandle of another account": {"user_handle": next(iter(other.credentials.values())).user_handle},
    }
    for case, changes in cases.items():
        refused = await passkey_sign_in(client, authenticator, **changes)
        assert_problem(refused, 401, "invalid_credentials")
        assert await state(app, email) == before, case
    # An assertion of a key the server does not know, under a known credential id: the signature fails.
    stranger = SoftAuthenticator(ORIGIN)
    stranger.create(
        {"rp": {"id": "shop.test"}, "user": {"id": b64url(b"x" * 32)}, "challenge": "x"},
        credential_id=credential_id,
    )
    assert_problem(
        await passkey_sign_in(client, stranger),
        401,
        "invalid_credentials",
    )
    # An unknown credential.
    unknown = SoftAuthenticator(ORIGIN)
    unknown.create({"rp": {"id": "shop.test"}, "user": {"id": b64url(b"y" * 32)}, "challenge": "x"})
    assert_problem(await passkey_sign_in(client, unknown), 401, "invalid_credentials")
    assert await state(app, email) == before

    clones = await events(app, "passkey_clone_suspected", email)
    assert len(clones) == 1 and clones[0].details is not None
    assert clones[0].details["stored"] == 2 and clones[0].details["presented"] == 1
    failures = [e for e in await events(app, "passkey_sign_in", email) if e.outcome == "failure"]
    assert {e.details["reason"] for e in failures if e.details} == {"verification", "user_handle"}
    # The genuine authenticator still signs in.
    assert (await passkey_sign_in(client, authenticator)).status_code == 200


async def test_spent_unknown_and_expired_challenges_are_refused(client: httpx.AsyncClient, app: Any) -> None:
    email, _, authenticator = await with_passkey(client, app)
    before = await state(app, email)
    # A challenge the server never made.
    made_up = {"challenge": b64url(b"z" * 32), "rpId": "shop.test"}
    assert_problem(
        await client.post(f"{PASSKEYS}/authenticate", json={"credential": authenticator.get(made_up)}),
        401,
        "invalid_credentials",
    )
    # A challenge refused once is spent: a second, good assertion of it is refused too.
    request = await sign_in_options(client)
    bad = authenticator.get(request, bad_signature=True)
    assert_problem(
        await client.post(f"{PASSKEYS}/authenticate", json={"credential": bad}), 401, "invalid_credentials"
    )
    good = authenticator.get(request)
    assert_problem(
        await client.post(f"{PASSKEYS}/authenticate", json={"credential": good}), 401, "invalid_credentials"
    )
    # An expired challenge (older than 5 minutes).
    request = await sign_in_options(client)
    await execute(app, update(PasskeyChallenge).values(expires_at=func.now() - text("interval '1 second'")))
    late = authenticator.get(request)
    assert_problem(
        await client.post(f"{PASSKEYS}/authenticate", json={"credential": late}), 401, "invalid_credentials"
    )
    # Malformed.
    assert_problem(
        await client.post(f"{PASSKEYS}/authenticate", json={"credential": {"id": "x"}}),
        401,
        "invalid_credentials",
    )
    after = await state(app, email)
    assert after[0] == before[0] and after[2] == before[2]


async def test_registration_refusals_change_nothing(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    intruder_email = await register_verified(client, app)
    intruder = await login(client, intruder_email)
    authenticator = SoftAuthenticator(ORIGIN)

    options = (await registration_options(client, pair, PASSWORD)).json()
    # The registration challenge of another account: refused, and the owner's challenge lives on.
    stolen = authenticator.create(options)
    assert_problem(
        await client.post(PASSKEYS, json={"credential": stolen}, headers=bearer(intruder)),
        400,
        "passkey_invalid",
    )
    for changes in (
        {"origin": "http://evil.test"},
        {"rp_id": "evil.test"},
        {"flags": UP | AT},
        {"client_data_type": "webauthn.get"},
    ):
        fresh = (await registration_options(client, pair, PASSWORD)).json()
        refused = await client.post(
            PASSKEYS, json={"credential": authenticator.create(fresh, **changes)}, headers=bearer(pair)
        )
        assert_problem(refused, 400, "passkey_invalid")
    assert_problem(
        await client.post(PASSKEYS, json={"credential": {"id": "x"}}, headers=bearer(pair)),
        400,
        "passkey_invalid",
    )
    assert await scalar(app, select(func.count()).select_from(Passkey)) == 0
    owner = await client.post(PASSKEYS, json={"credential": stolen}, headers=bearer(pair))
    assert owner.status_code == 201, owner.text
    # A spent registration challenge.
    assert_problem(
        await client.post(PASSKEYS, json={"credential": stolen}, headers=bearer(pair)), 400, "passkey_invalid"
    )

    # The same credential id again, from another account: 409, and nothing added.
    (credential_id,) = [c for c in authenticator.credentials if b64url(c) == stolen["id"]]
    again = (await registration_options(client, intruder, PASSWORD)).json()
    twice = SoftAuthenticator(ORIGIN).create(again, credential_id=credential_id)
    assert_problem(
        await client.post(PASSKEYS, json={"credential": twice}, headers=bearer(intruder)),
        409,
        "passkey_exists",
    )
    assert await scalar(app, select(func.count()).select_from(Passkey)) == 1
    assert (await client.get(ME, headers=bearer(intruder))).json()["passkeys"] == 0

    # Options need the password (an account that has one must give it), and a verified email.
    assert_problem(
        await registration_options(client, pair, "wrong password here"), 400, "invalid_current_password"
    )
    missing = await client.post(f"{PASSKEYS}/registration-options", json={}, headers=bearer(pair))
    assert_problem(missing, 422, "validation_error")
    unverified = await register(client)
    pending = await client.post("/api/v1/auth/login", json={"email": unverified, "password": PASSWORD})
    assert pending.status_code == 403  # an unverified account cannot sign in at all today
    await execute(app, update(User).where(User.email == unverified).values(email_verified=True))
    unverified_pair = await login(client, unverified)
    await execute(app, update(User).where(User.email == unverified).values(email_verified=False))
    assert_problem(await registration_options(client, unverified_pair, PASSWORD), 403, "email_not_verified")


async def test_ten_passkeys_at_most(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    authenticator = SoftAuthenticator(ORIGIN, algorithm="EdDSA")
    for _ in range(10):
        assert (await add_passkey(client, pair, authenticator, PASSWORD)).status_code == 201
    assert_problem(await registration_options(client, pair, PASSWORD), 409, "passkey_limit")
    assert (await client.get(ME, headers=bearer(pair))).json()["passkeys"] == 10


async def test_rename_and_remove(client: httpx.AsyncClient, app: Any) -> None:
    email, pair, authenticator = await with_passkey(client, app)
    _, other_pair, _ = await with_passkey(client, app)
    (passkey,) = (await client.get(PASSKEYS, headers=bearer(pair))).json()
    renamed = await client.patch(f"{PASSKEYS}/{passkey['id']}", json={"name": "Phone"}, headers=bearer(pair))
    assert renamed.status_code == 200 and renamed.json()["name"] == "Phone"
    # Another account's passkey does not exist for this one.
    assert_problem(
        await client.patch(f"{PASSKEYS}/{passkey['id']}", json={"name": "x"}, headers=bearer(other_pair)),
        404,
        "not_found",
    )
    gone = {"password": PASSWORD}
    assert_problem(
        await client.request("DELETE", f"{PASSKEYS}/{passkey['id']}", json=gone, headers=bearer(other_pair)),
        404,
        "not_found",
    )
    wrong = {"password": "wrong password here"}
    assert_problem(
        await client.request("DELETE", f"{PASSKEYS}/{passkey['id']}", json=wrong, headers=bearer(pair)),
        400,
        "invalid_current_password",
    )
    removed = await client.request("DELETE", f"{PASSKEYS}/{passkey['id']}", json=gone, headers=bearer(pair))
    assert removed.status_code == 204
    assert "A passkey was removed from your account" in await mail_subjects(app, email)
    assert (await client.get(ME, headers=bearer(pair))).json()["passkeys"] == 0
    # The removed credential can no longer sign in.
    assert_problem(await passkey_sign_in(client, authenticator), 401, "invalid_credentials")


# -- passkeys and the rest of auth ------------------------------------------------------------------


async def test_an_account_with_totp_signs_in_by_passkey_without_a_second_step(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    _, pair, authenticator = await with_passkey(client, app)
    await enrol(client, pair, clock)
    signed_in = await passkey_sign_in(client, authenticator)
    assert signed_in.status_code == 200, signed_in.text
    assert claims(signed_in.json())["amr"] == ["pop", "mfa"]
    assert (await client.get(ME, headers=bearer(signed_in.json()))).json()["mfa_enabled"] is True


async def test_an_admin_reaches_admin_routes_after_a_passkey_when_mfa_is_required(
    app_with: AppWith, clock: Clock
) -> None:
    async with app_with(admin_mfa_required=True) as application, http_client(application) as client:
        email, pair, authenticator = await with_passkey(client, application)
        await execute(application, update(User).where(User.email == email).values(role="admin"))
        assert_problem(await client.get("/api/v1/admin/users", headers=bearer(pair)), 403, "mfa_required")
        signed_in = await passkey_sign_in(client, authenticator)
        listed = await client.get("/api/v1/admin/users", headers=bearer(signed_in.json()))
        assert listed.status_code == 200, listed.text
        assert {"passkeys"} <= set(listed.json()[0])


async def test_password_lockout_does_not_block_a_passkey(client: httpx.AsyncClient, app: Any) -> None:
    email, _, authenticator = await with_passkey(client, app)
    for _ in range(5):
        await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong password here"})
    assert_problem(
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}),
        423,
        "account_locked",
    )
    signed_in = await passkey_sign_in(client, authenticator)
    assert signed_in.status_code == 200, signed_in.text
    # The lock on passwords stays: a passkey neither lifts nor resets it.
    assert_problem(
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}),
        423,
        "account_locked",
    )


async def test_a_disabled_account_is_refused(client: httpx.AsyncClient, app: Any) -> None:
    email, _, authenticator = await with_passkey(client, app)
    await execute(app, update(User).where(User.email == email).values(is_active=False))
    assert_problem(await passkey_sign_in(client, authenticator), 403, "account_disabled")


async def test_deletion_leaves_no_passkey_row(client: httpx.AsyncClient, app: Any) -> None:
    email, pair, _ = await with_passkey(client, app)
    user_id = await user_id_of(app, email)
    await registration_options(client, pair, PASSWORD)
    deleted = await client.request("DELETE", ME, json={"password": PASSWORD}, headers=bearer(pair))
    assert deleted.status_code == 204, deleted.text
    for model in (Passkey, PasskeyUser, PasskeyChallenge):
        count = await scalar(app, select(func.count()).select_from(model).where(model.user_id == user_id))
        assert count == 0, model.__name__


async def test_options_and_sign_in_share_the_passkey_budget(app_with: AppWith, clock: Clock) -> None:
    async with (
        app_with(rate_limit_enabled=True, rate_limit_passkey="3/5minutes") as application,
        http_client(application) as client,
    ):
        application.state.rate_limiter.reset()
        authenticator = SoftAuthenticator(ORIGIN)
        authenticator.create({"rp": {"id": "shop.test"}, "user": {"id": b64url(b"u" * 32)}, "challenge": "x"})
        request = await sign_in_options(client)  # 1
        refused = await client.post(
            f"{PASSKEYS}/authenticate", json={"credential": authenticator.get(request)}
        )  # 2
        assert_problem(refused, 401, "invalid_credentials")
        await sign_in_options(client)  # 3
        assert_problem(await client.post(f"{PASSKEYS}/authentication-options", json={}), 429, "rate_limited")
        # The password login keeps its own budget.
        login_answer = await client.post(
            "/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
        )
        assert_problem(login_answer, 401, "invalid_credentials")


async def test_cookie_mode_sets_the_cookies_like_login(app_with: AppWith, clock: Clock) -> None:
    async with app_with(refresh_cookie=True) as application, http_client(application) as client:
        _, _, authenticator = await with_passkey(client, application)
        signed_in = await passkey_sign_in(client, authenticator)
        assert signed_in.status_code == 200, signed_in.text
        assert "refresh_token" not in signed_in.json()
        assert any(REFRESH_COOKIE in header for header in signed_in.headers.get_list("set-cookie"))


def test_origins_default_to_public_url_and_cors_origins(tmp_path: Any) -> None:
    settings = make_settings(
        "postgresql+asyncpg://x/y",
        tmp_path,
        public_url="https://shop.example.com/base",
        cors_origins="https://app.example.com",
    )
    assert settings.webauthn_relying_party_id == "shop.example.com"
    assert settings.webauthn_accepted_origins == ["https://shop.example.com", "https://app.example.com"]
    explicit = make_settings(
        "postgresql+asyncpg://x/y",
        tmp_path,
        webauthn_rp_id="example.com",
        webauthn_origins="https://a.example.com/",
    )
    assert explicit.webauthn_relying_party_id == "example.com"
    assert explicit.webauthn_accepted_origins == ["https://a.example.com"]


async def test_the_purge_removes_expired_challenges(client: httpx.AsyncClient, app: Any) -> None:
    await sign_in_options(client)
    await sign_in_options(client)
    await execute(app, update(PasskeyChallenge).values(expires_at=func.now() - text("interval '1 second'")))
    live = await sign_in_options(client)
    purged = await auth_upkeep(app).purge()
    assert purged.counts["passkey_challenges"] == 2
    remaining = await scalar(app, select(PasskeyChallenge.challenge_hash))
    assert remaining == hashlib.sha256(unb64url(live["challenge"])).digest()


async def test_the_passkey_page_allows_only_its_own_script_and_style(client: httpx.AsyncClient) -> None:
    page = await client.get("/passkeys", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert page.status_code == 200 and page.headers["content-language"] == "es"
    assert '<html lang="es">' in page.text and "Iniciar sesión con una llave de acceso" in page.text
    policy = page.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; ") and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "connect-src 'self'" in policy
    script = page.text.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy


async def test_an_account_without_a_password_gets_options_only_soon_after_signing_in(
    client: httpx.AsyncClient, app: Any
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    await execute(app, update(User).where(User.email == email).values(password_hash=None))
    fresh = await client.post(f"{PASSKEYS}/registration-options", json={}, headers=bearer(pair))
    assert fresh.status_code == 200, fresh.text
    sid = jwt.decode(pair["access_token"], options={"verify_signature": False})["sid"]
    await execute(
        app, update(Session).where(Session.id == sid).values(created_at=text("now() - interval '1 hour'"))
    )
    late = await client.post(f"{PASSKEYS}/registration-options", json={}, headers=bearer(pair))
    assert_problem(late, 403, "reauthentication_required")


async def test_the_last_passkey_of_an_account_without_a_password_or_identity_stays(
    client: httpx.AsyncClient, app: Any
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    user_id = pair["user"]["id"]
    await execute(app, update(User).where(User.email == email).values(password_hash=None))
    async with app.state.database.sessions() as session:
        for n in (1, 2):
            await PasskeyRepository(session).add(
                user_id=uuid.UUID(user_id),
                credential_id=f"cred-{n}".encode(),
                public_key=b"key",
                sign_count=0,
                transports=[],
                backup_eligible=True,
                backed_up=True,
                aaguid=uuid.UUID(int=0),
                name=f"Key {n}",
            )
        await session.commit()
    first, second = (await client.get(PASSKEYS, headers=bearer(pair))).json()
    assert (
        await client.request("DELETE", f"{PASSKEYS}/{first['id']}", headers=bearer(pair), json={})
    ).status_code == 204
    last = await client.request("DELETE", f"{PASSKEYS}/{second['id']}", headers=bearer(pair), json={})
    assert_problem(last, 409, "last_sign_in_method")


async def test_a_refused_challenge_and_an_unknown_credential_are_told_apart(
    client: httpx.AsyncClient, app: Any
) -> None:
    """The challenge's claim and the credential's lookup are one statement: a refusal still says which
    failed, and spends a live challenge that met an unknown credential."""
    _, _, authenticator = await with_passkey(client, app)

    async def reasons() -> list[str]:
        async with app.state.database.sessions() as session:
            rows = await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.event == "passkey_sign_in", AuditEvent.outcome == "failure")
                .order_by(AuditEvent.id)
            )
            return [str((event.details or {}).get("reason")) for event in rows]

    made_up = {"challenge": b64url(b"q" * 32), "rpId": "shop.test"}
    refused = await client.post(f"{PASSKEYS}/authenticate", json={"credential": authenticator.get(made_up)})
    assert_problem(refused, 401, "invalid_credentials")
    unknown = SoftAuthenticator(ORIGIN)
    unknown.create({"rp": {"id": "shop.test"}, "user": {"id": b64url(b"w" * 32)}, "challenge": "x"})
    request = await sign_in_options(client)
    assert_problem(
        await client.post(f"{PASSKEYS}/authenticate", json={"credential": unknown.get(request)}),
        401,
        "invalid_credentials",
    )
    assert (await reasons())[-2:] == ["challenge", "unknown_credential"]
    spent = await scalar(
        app,
        select(PasskeyChallenge.spent_at).where(
            PasskeyChallenge.challenge_hash == hashlib.sha256(unb64url(request["challenge"])).digest()
        ),
    )
    assert spent is not None
    # The account's own passkey still signs in.
    assert (await passkey_sign_in(client, authenticator)).status_code == 200
