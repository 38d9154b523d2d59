"""Sign-in with other providers, driven over HTTP against real providers on loopback: the start,
the provider's own authorization step, shop's callback, the redirect with a one-time code, the
exchange. `local` is oidc-provider-mock; `double` a provider whose answers the test bends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select, text, update

from shop.auth.models import AuditEvent, LinkedIdentity, OidcCode, OidcState, Session, User
from shop.auth.passkeys.repository import PasskeyRepository
from shop.core.config import Settings
from shop.core.db import Database
from shop.core.mail.outbox import OutboxMail
from tests.support.app import AppWith, http_client, make_settings
from tests.support.auth import PASSWORD, auth_upkeep, bearer, login, new_email, register_verified
from tests.support.factories import signed_in_user
from tests.support.mfa import Authenticator, Clock, enrol, verify
from tests.support.oidc import (
    CLIENT_ID,
    ProviderDouble,
    answer_at_mock,
    back_at_shop,
    exchange,
    follow_double,
    mock_provider,
    provider_settings,
    set_mock_user,
    start,
)
from tests.support.problems import assert_problem

AUTH = "/api/v1/auth"


@pytest.fixture(scope="session")
def local_issuer() -> Iterator[str]:
    with mock_provider() as issuer:
        yield issuer


@pytest.fixture(scope="session")
def double_provider() -> Iterator[ProviderDouble]:
    with ProviderDouble() as double:
        yield double


@pytest.fixture
def double(double_provider: ProviderDouble) -> Iterator[ProviderDouble]:
    double_provider.reset()
    yield double_provider
    double_provider.reset()


@pytest.fixture
def settings(
    database_url: str, tmp_path: Any, local_issuer: str, double_provider: ProviderDouble
) -> Settings:
    return make_settings(database_url, tmp_path, **provider_settings(local_issuer, double_provider.issuer))


async def sign_in_at_local(
    client: httpx.AsyncClient, local_issuer: str, sub: str, **claims: Any
) -> tuple[dict[str, str], str]:
    """The whole browser trip through the mock: the redirect's query and the SPA's verifier."""
    if claims:
        await set_mock_user(local_issuer, sub, **claims)
    started = await start(client, "local")
    query = await back_at_shop(client, await answer_at_mock(started.authorization_url, sub))
    return query, started.verifier


async def new_federated_account(
    client: httpx.AsyncClient, local_issuer: str, **claims: Any
) -> tuple[str, dict[str, Any]]:
    """An account made by the mock provider; its email and the token pair of its first sign-in."""
    email = new_email()
    sub = f"sub-{email}"
    query, verifier = await sign_in_at_local(
        client, local_issuer, sub, email=email, email_verified=True, **claims
    )
    response = await exchange(client, query["code"], verifier)
    assert response.status_code == 200, response.text
    return email, response.json()


async def count(db: Database, model: Any) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def amr(pair: dict[str, Any]) -> list[str]:
    return list(jwt.decode(pair["access_token"], options={"verify_signature": False})["amr"])


# -- the providers and the start ----------------------------------------------------------------------


async def test_the_configured_providers_are_listed(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{AUTH}/oidc/providers")
    assert response.status_code == 200
    assert response.json() == [
        {"name": "local", "display_name": "Local provider"},
        {"name": "double", "display_name": "Double"},
    ]


async def test_the_start_refuses_unknown_providers_foreign_redirects_and_anonymous_links(
    client: httpx.AsyncClient,
) -> None:
    body = {
        "redirect_to": "http://shop.test/signed-in",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "intent": "sign_in",
    }
    assert_problem(await client.post(f"{AUTH}/oidc/nope/start", json=body), 404, "not_found")
    for elsewhere in (
        "https://evil.test/",
        "http://shop.test.evil.test/x",
        "//evil.test/",
        "javascript:alert(1)",
    ):
        response = await client.post(f"{AUTH}/oidc/local/start", json={**body, "redirect_to": elsewhere})
        assert_problem(response, 422, "redirect_not_allowed")
    response = await client.post(f"{AUTH}/oidc/local/start", json={**body, "intent": "link"})
    assert_problem(response, 401, "not_authenticated")
    response = await client.post(f"{AUTH}/oidc/local/start", json={**body, "code_challenge_method": "plain"})
    assert_problem(response, 422, "validation_error")


async def test_the_authorization_url_asks_for_the_code_with_pkce_state_and_nonce(
    client: httpx.AsyncClient, local_issuer: str
) -> None:
    started = await start(client, "local")
    url = httpx.URL(started.authorization_url)
    assert str(url).startswith(f"{local_issuer}/oauth2/authorize?")
    params = dict(url.params)
    assert params["response_type"] == "code"
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == "http://shop.test/api/v1/auth/oidc/local/callback"
    assert params["scope"] == "openid email profile"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 43 and len(params["nonce"]) >= 43
    # Stored only as a hash.
    async with client._transport.app.state.database.sessions() as session:  # type: ignore[attr-defined]
        stored = (await session.scalars(select(OidcState))).all()
    assert all(params["state"].encode() not in row.state_hash for row in stored)


# -- sign-in: new accounts, returning identities, the refusals -----------------------------------------


async def test_a_verified_email_makes_a_new_account_without_a_password(
    client: httpx.AsyncClient, local_issuer: str, db: Database
) -> None:
    email, pair = await new_federated_account(
        client, local_issuer, given_name="Ada", family_name="Lovelace", locale="de-CH"
    )
    assert amr(pair) == ["fed"]
    me = (await client.get(f"{AUTH}/me", headers=bearer(pair))).json()
    assert me["email"] == email and me["email_verified"] is True
    assert me["has_password"] is False and me["identities"] == ["local"]
    profile = (await client.get("/api/v1/profile", headers=bearer(pair))).json()
    assert (profile["first_name"], profile["last_name"], profile["preferred_language"]) == (
        "Ada",
        "Lovelace",
        "de",
    )
    # No password signs in to it, as any wrong one is refused.
    response = await client.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})
    assert_problem(response, 401, "invalid_credentials")


async def test_without_a_locale_the_language_comes_from_the_start(
    client: httpx.AsyncClient, local_issuer: str
) -> None:
    email = new_email()
    await set_mock_user(local_issuer, email, email=email, email_verified=True)
    client.headers["Accept-Language"] = "fr-FR,fr;q=0.9"
    started = await start(client, "local")
    del client.headers["Accept-Language"]
    query = await back_at_shop(client, await answer_at_mock(started.authorization_url, email))
    pair = (await exchange(client, query["code"], started.verifier)).json()
    profile = (await client.get("/api/v1/profile", headers=bearer(pair))).json()
    assert profile["preferred_language"] == "fr"


async def test_a_returning_identity_signs_in_its_account_whatever_its_email_became(
    client: httpx.AsyncClient, local_issuer: str, db: Database
) -> None:
    email, first = await new_federated_account(client, local_issuer)
    sub = f"sub-{email}"
    # The provider now says another (unverified) address: the identity is (provider, sub).
    query, verifier = await sign_in_at_local(
        client, local_issuer, sub, email=new_email(), email_verified=False
    )
    second = (await exchange(client, query["code"], verifier)).json()
    assert second["user"]["id"] == first["user"]["id"] and second["user"]["email"] == email
    assert await count(db, LinkedIdentity) == 1


async def test_an_unverified_email_is_refused_and_nothing_is_made(
    client: httpx.AsyncClient, local_issuer: str, db: Database
) -> None:
    email = new_email()
    query, _ = await sign_in_at_local(client, local_issuer, email, email=email, email_verified=False)
    assert query["error"] == "email_not_verified" and "code" not in query
    assert await count(db, User) == 0


async def test_an_email_of_an_existing_account_is_never_merged(
    client: httpx.AsyncClient, app: Any, local_issuer: str, db: Database
) -> None:
    email = await register_verified(client, app)
    query, _ = await sign_in_at_local(
        client, local_issuer, f"someone-{email}", email=email.upper(), email_verified=True
    )
    assert query["error"] == "account_exists" and query["error_description"]
    assert await count(db, LinkedIdentity) == 0


async def test_a_cancelled_sign_in_comes_back_with_access_denied(
    client: httpx.AsyncClient, double: ProviderDouble, db: Database
) -> None:
    # (oidc-provider-mock's "deny" leaves `state` out of its answer, as RFC 6749 4.1.2.1 does not
    # allow: the double answers as providers do.)
    double.deny = True
    started = await start(client, "double")
    query = await back_at_shop(client, await follow_double(started.authorization_url))
    assert query["error"] == "access_denied" and query["error_description"]
    assert await count(db, User) == 0


async def test_a_disabled_account_is_refused(
    client: httpx.AsyncClient, local_issuer: str, db: Database
) -> None:
    email, _ = await new_federated_account(client, local_issuer)
    async with db.unit_of_work() as session:
        await session.execute(text("UPDATE auth.users SET is_active = false WHERE email = :e"), {"e": email})
    query, _ = await sign_in_at_local(client, local_issuer, f"sub-{email}")
    assert query["error"] == "account_disabled"


# -- the state ------------------------------------------------------------------------------------------


async def test_a_replayed_expired_or_forged_state_is_a_400_page_and_makes_nothing(
    client: httpx.AsyncClient, app: Any, local_issuer: str, db: Database
) -> None:
    email = new_email()
    await set_mock_user(local_issuer, email, email=email, email_verified=True)
    started = await start(client, "local")
    callback = await answer_at_mock(started.authorization_url, email)
    forged = callback.replace("state=", "state=x")
    browser = {"Accept": "text/html,application/xhtml+xml"}
    response = await client.get(forged, headers=browser)
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert_problem(await client.get(forged), 400, "oidc_state_invalid")
    # Bound to its provider: the same state at another provider's callback is unknown there.
    other = callback.replace("/oidc/local/", "/oidc/double/")
    assert_problem(await client.get(other), 400, "oidc_state_invalid")
    assert (await client.get(callback)).status_code == 302
    assert_problem(await client.get(callback), 400, "oidc_state_invalid")  # replayed
    assert await count(db, User) == 1

    # Expired (10 minutes): nothing made.
    started = await start(client, "local")
    callback = await answer_at_mock(started.authorization_url, new_email())
    async with db.unit_of_work() as session:
        await session.execute(text("UPDATE auth.oidc_states SET expires_at = now() - interval '1 second'"))
    assert_problem(await client.get(callback), 400, "oidc_state_invalid")
    assert await count(db, User) == 1
    # The upkeep removes what expired.
    assert (await auth_upkeep(app).purge()).counts["oidc_states"] == 1
    assert await count(db, OidcState) == 0


# -- the one-time code ---------------------------------------------------------------------------------


async def test_the_code_works_once_within_60_seconds_and_only_with_the_verifier(
    client: httpx.AsyncClient, local_issuer: str, db: Database
) -> None:
    email = new_email()
    query, verifier = await sign_in_at_local(client, local_issuer, email, email=email, email_verified=True)
    assert_problem(await exchange(client, query["code"], "x" * 43), 400, "token_invalid")
    # A wrong verifier spent it: the right one comes too late.
    assert_problem(await exchange(client, query["code"], verifier), 400, "token_invalid")

    query, verifier = await sign_in_at_local(client, local_issuer, email)
    assert (await exchange(client, query["code"], verifier)).status_code == 200
    assert_problem(await exchange(client, query["code"], verifier), 400, "token_invalid")  # twice

    query, verifier = await sign_in_at_local(client, local_issuer, email)
    async with db.unit_of_work() as session:
        await session.execute(text("UPDATE auth.oidc_codes SET expires_at = now() - interval '1 second'"))
    assert_problem(await exchange(client, query["code"], verifier), 400, "token_invalid")  # late
    async with db.sessions() as session:
        stored = (await session.scalars(select(OidcCode))).all()
    assert all(query["code"].encode() not in row.code_hash for row in stored)


async def test_the_exchange_signs_in_once_and_refuses_an_account_disabled_since_the_callback(
    client: httpx.AsyncClient, local_issuer: str, db: Database
) -> None:
    email, pair = await new_federated_account(client, local_issuer)
    user_id = uuid.UUID(pair["user"]["id"])
    async with db.sessions() as session:
        user = await session.get(User, user_id)
        assert user is not None and user.last_login_at is not None  # stamped by the exchange
        signed_in = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.user_id == user_id, AuditEvent.event == "login_fed")
            )
        ).all()
    assert [(row.outcome, set(row.details or {})) for row in signed_in] == [("success", {"session_id"})]

    query, verifier = await sign_in_at_local(client, local_issuer, f"sub-{email}")
    async with db.unit_of_work() as session:
        await session.execute(update(User).where(User.id == user_id).values(is_active=False))
    sessions_before = await count(db, Session)
    assert_problem(await exchange(client, query["code"], verifier), 403, "account_disabled")
    assert await count(db, Session) == sessions_before  # nothing opened
    async with db.unit_of_work() as session:
        await session.execute(update(User).where(User.id == user_id).values(is_active=True))
    # The refusal spent the code all the same.
    assert_problem(await exchange(client, query["code"], verifier), 400, "token_invalid")
    async with db.sessions() as session:
        refused = (
            await session.scalars(
                select(AuditEvent.details).where(
                    AuditEvent.user_id == user_id,
                    AuditEvent.event == "login_fed",
                    AuditEvent.outcome == "failure",
                )
            )
        ).all()
    assert refused == [{"reason": "account_disabled"}]


async def test_cookie_mode_sets_the_cookies_at_the_exchange(
    *, app_with: AppWith, clock: Clock, local_issuer: str, double_provider: ProviderDouble
) -> None:
    async with (
        app_with(
            refresh_cookie=True, **provider_settings(local_issuer, double_provider.issuer)
        ) as application,
        http_client(application) as client,
    ):
        email = new_email()
        query, verifier = await sign_in_at_local(
            client, local_issuer, email, email=email, email_verified=True
        )
        response = await exchange(client, query["code"], verifier)
        assert response.status_code == 200, response.text
        assert "refresh_token" not in response.json()
        assert any("refresh" in cookie for cookie in response.headers.get_list("set-cookie"))


# -- two-step sign-in ------------------------------------------------------------------------------------


async def test_an_account_with_two_step_sign_in_finishes_with_a_code(
    client: httpx.AsyncClient, local_issuer: str, clock: Clock
) -> None:
    email, pair = await new_federated_account(client, local_issuer)
    # No password: a recent sign-in confirms the setup.
    authenticator: Authenticator = (await enrol(client, pair, clock)).app
    query, verifier = await sign_in_at_local(client, local_issuer, f"sub-{email}")
    response = assert_problem(await exchange(client, query["code"], verifier), 403, "mfa_required")
    assert_problem(
        await exchange(client, query["code"], verifier), 400, "token_invalid"
    )  # spent all the same
    finished = await verify(client, response["mfa_token"], code=authenticator.next_code())
    assert finished.status_code == 200, finished.text
    assert amr(finished.json()) == ["fed", "otp"]


# -- linking and unlinking --------------------------------------------------------------------------------


async def test_a_signed_in_account_links_a_provider_and_then_signs_in_through_it(
    client: httpx.AsyncClient, app: Any, local_issuer: str, db: Database
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    sub = f"linked-{email}"
    await set_mock_user(local_issuer, sub, email="other-address@example.com", email_verified=False)
    started = await start(client, "local", intent="link", headers=bearer(pair))
    query = await back_at_shop(client, await answer_at_mock(started.authorization_url, sub))
    assert query == {"linked": "local"}
    listed = (await client.get(f"{AUTH}/identities", headers=bearer(pair))).json()
    assert [(i["provider"], i["subject"], i["email"]) for i in listed] == [
        ("local", sub, "other-address@example.com")
    ]
    async with db.sessions() as session:
        mails = (await session.scalars(select(OutboxMail.subject).where(OutboxMail.recipient == email))).all()
    assert any("linked" in subject for subject in mails)

    query, verifier = await sign_in_at_local(client, local_issuer, sub)
    signed_in = (await exchange(client, query["code"], verifier)).json()
    assert signed_in["user"]["email"] == email


async def test_an_identity_of_another_account_is_not_linked(
    client: httpx.AsyncClient, app: Any, local_issuer: str, db: Database
) -> None:
    owner_email, _ = await new_federated_account(client, local_issuer)
    other = await login(client, await register_verified(client, app))
    started = await start(client, "local", intent="link", headers=bearer(other))
    query = await back_at_shop(client, await answer_at_mock(started.authorization_url, f"sub-{owner_email}"))
    assert query["error"] == "identity_in_use"
    assert (await client.get(f"{AUTH}/identities", headers=bearer(other))).json() == []


async def test_the_last_way_in_of_an_account_without_a_password_stays(
    client: httpx.AsyncClient, app: Any, local_issuer: str, db: Database
) -> None:
    _, pair = await new_federated_account(client, local_issuer)
    identity = (await client.get(f"{AUTH}/identities", headers=bearer(pair))).json()[0]
    response = await client.request("DELETE", f"{AUTH}/identities/{identity['id']}", headers=bearer(pair))
    assert_problem(response, 409, "last_sign_in_method")

    # With a passkey held, the identity is not the last way in: it goes.
    user_id = uuid.UUID(pair["user"]["id"])
    async with app.state.database.sessions() as session:
        await PasskeyRepository(session).add(
            user_id=user_id,
            credential_id=b"credential-of-the-last-way-in-test",
            public_key=b"public-key-of-the-last-way-in-test",
            sign_count=0,
            transports=["internal"],
            backup_eligible=True,
            backed_up=True,
            aaguid=uuid.UUID(int=0),
            name="Laptop",
        )
        await session.commit()
    response = await client.request("DELETE", f"{AUTH}/identities/{identity['id']}", headers=bearer(pair))
    assert response.status_code == 204, response.text

    # An account with a password removes its linked provider (with the password), and is mailed.
    email = await register_verified(client, app)
    owner = await login(client, email)
    started = await start(client, "local", intent="link", headers=bearer(owner))
    await back_at_shop(client, await answer_at_mock(started.authorization_url, f"link-{email}"))
    linked = (await client.get(f"{AUTH}/identities", headers=bearer(owner))).json()[0]
    url = f"{AUTH}/identities/{linked['id']}"
    wrong = await client.request("DELETE", url, headers=bearer(owner), json={"password": "not the password"})
    assert_problem(wrong, 400, "invalid_current_password")
    response = await client.request("DELETE", url, headers=bearer(owner), json={"password": PASSWORD})
    assert response.status_code == 204
    assert (await client.get(f"{AUTH}/me", headers=bearer(owner))).json()["identities"] == []
    assert_problem(
        await client.request("DELETE", url, headers=bearer(owner), json={"password": PASSWORD}),
        404,
        "not_found",
    )


# -- re-authentication of an account without a password ------------------------------------------------


async def test_an_account_without_a_password_deletes_itself_only_soon_after_a_sign_in(
    client: httpx.AsyncClient, local_issuer: str, db: Database
) -> None:
    email, pair = await new_federated_account(client, local_issuer)
    # Changing a password needs one: such an account sets one by reset.
    response = await client.post(
        f"{AUTH}/change-password",
        headers=bearer(pair),
        json={
            "current_password": "anything at all",
            "new_password": "a new one here",
            "confirm_password": "a new one here",
        },
    )
    assert_problem(response, 400, "invalid_current_password")
    # Signed in more than REAUTH_MAX_AGE_SECONDS (300) ago; a refresh since does not count.
    async with db.unit_of_work() as session:
        await session.execute(
            text("UPDATE auth.sessions SET created_at = created_at - interval '301 seconds'")
        )
    refreshed = (await client.post(f"{AUTH}/refresh", json={"refresh_token": pair["refresh_token"]})).json()
    response = await client.request("DELETE", f"{AUTH}/me", headers=bearer(refreshed), json={})
    assert_problem(response, 403, "reauthentication_required")

    # A new sign-in (through the provider) is recent: the deletion goes through.
    query, verifier = await sign_in_at_local(client, local_issuer, f"sub-{email}")
    fresh = (await exchange(client, query["code"], verifier)).json()
    response = await client.request("DELETE", f"{AUTH}/me", headers=bearer(fresh), json={})
    assert response.status_code == 204, response.text
    assert await count(db, User) == 0 and await count(db, LinkedIdentity) == 0


async def test_an_account_with_a_password_still_gives_it(client: httpx.AsyncClient, app: Any) -> None:
    pair = await login(client, await register_verified(client, app))
    response = await client.request("DELETE", f"{AUTH}/me", headers=bearer(pair), json={})
    assert_problem(response, 422, "validation_error")
    response = await client.post(f"{AUTH}/mfa/totp/setup", headers=bearer(pair), json={})
    assert_problem(response, 422, "validation_error")


# -- the provider's answers: the ID token checks (OpenID Connect Core 3.1.3.7) --------------------------


async def sign_in_at_double(client: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    started = await start(client, "double")
    return await back_at_shop(client, await follow_double(started.authorization_url)), started.verifier


async def test_the_double_signs_in_when_its_id_token_is_right(
    client: httpx.AsyncClient, double: ProviderDouble
) -> None:
    double.claims = {"sub": "right-one", "email": "right-one@example.com"}
    query, verifier = await sign_in_at_double(client)
    assert (await exchange(client, query["code"], verifier)).status_code == 200


@pytest.mark.parametrize(
    "tweak",
    [
        {"aud": "another-client"},
        {"aud": ["another-client", CLIENT_ID]},  # several audiences and no azp
        {"iss": "http://127.0.0.1:1"},
        {"nonce": "not-the-nonce"},
        {"nonce": None},
        {"exp": 1_000_000_000},
        {"iat": 1_000_000_000},
        {"sub": None},
    ],
    ids=["aud", "azp", "iss", "nonce", "no-nonce", "exp", "iat", "no-sub"],
)
async def test_an_id_token_that_fails_a_check_is_a_provider_error(
    client: httpx.AsyncClient, double: ProviderDouble, db: Database, tweak: dict[str, Any]
) -> None:
    double.claims = {"sub": "bent", "email": "bent@example.com"}
    double.tweaks = tweak
    query, _ = await sign_in_at_double(client)
    assert query["error"] == "provider_error" and "code" not in query
    assert await count(db, User) == 0


async def test_an_answer_naming_another_issuer_is_a_provider_error(
    client: httpx.AsyncClient, double: ProviderDouble, db: Database
) -> None:
    double.claims = {"sub": "mixed-up", "email": "mixed-up@example.com"}
    double.answer_iss = "https://another-provider.example"
    query, _ = await sign_in_at_double(client)
    assert query["error"] == "provider_error"
    double.answer_iss = double.issuer
    query, verifier = await sign_in_at_double(client)
    assert (await exchange(client, query["code"], verifier)).status_code == 200


async def test_an_id_token_signed_by_another_key_is_a_provider_error_and_a_new_key_is_fetched(
    client: httpx.AsyncClient, double: ProviderDouble, db: Database
) -> None:
    double.claims = {"sub": "keyed", "email": "keyed@example.com"}
    double.sign_with_other_key = True
    query, _ = await sign_in_at_double(client)
    assert query["error"] == "provider_error"
    assert await count(db, User) == 0
    # The provider rotates: a token naming a key not yet seen makes shop read the keys again.
    double.sign_with_other_key = False
    query, _ = await sign_in_at_double(client)
    assert "code" in query
    reads = double.jwks_reads
    double.rotate()
    query, _ = await sign_in_at_double(client)
    assert "code" in query, query
    assert double.jwks_reads == reads + 1


async def test_a_provider_down_at_start_answers_503_and_nothing_else_breaks(
    client: httpx.AsyncClient, app: Any, double: ProviderDouble
) -> None:
    double.down = True
    body = {
        "redirect_to": "http://shop.test/signed-in",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "intent": "sign_in",
    }
    response = await client.post(f"{AUTH}/oidc/double/start", json=body)
    assert_problem(response, 503, "service_unavailable")
    assert "Retry-After" in response.headers
    # Password sign-in and the other provider do not notice.
    await login(client, await register_verified(client, app))
    assert (await client.post(f"{AUTH}/oidc/local/start", json=body)).status_code == 200


async def test_a_misconfigured_provider_never_stops_shop_and_its_start_answers_503(
    app_with: AppWith, clock: Clock
) -> None:
    # No issuer, and an issuer that is not https: shop starts; those starts answer 503.
    async with (
        app_with(
            oidc_providers="broken,plain",
            oidc_broken_client_id="x",
            oidc_plain_issuer="http://login.example.com",
            oidc_plain_client_id="x",
        ) as application,
        http_client(application) as client,
    ):
        body = {
            "redirect_to": "http://shop.test/signed-in",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "intent": "sign_in",
        }
        for name in ("broken", "plain"):
            assert_problem(
                await client.post(f"{AUTH}/oidc/{name}/start", json=body), 503, "service_unavailable"
            )
        assert (await client.get("/health/ready")).status_code == 200


def test_provider_names_are_checked_and_their_variables_read(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="not a provider name"):
        Settings(_env_file=None, oidc_providers="Google")  # type: ignore[call-arg]
    monkeypatch.setenv("OIDC_PROVIDERS", "acme_corp")
    monkeypatch.setenv("OIDC_ACME_CORP_ISSUER", "https://login.acme.example")
    monkeypatch.setenv("OIDC_ACME_CORP_CLIENT_ID", "shop")
    monkeypatch.setenv("OIDC_ACME_CORP_SCOPES", "openid email")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    acme = settings.oidc_provider_settings["acme_corp"]
    assert (acme.issuer, acme.client_id, acme.scopes, acme.label) == (
        "https://login.acme.example",
        "shop",
        "openid email",
        "Acme Corp",
    )


async def test_the_admin_listing_shows_the_account_as_me_does(
    client: httpx.AsyncClient, app: Any, local_issuer: str
) -> None:
    email, pair = await new_federated_account(client, local_issuer)
    admin = await signed_in_user(app, role="admin")
    listed = (await client.get("/api/v1/admin/users", params={"email": email}, headers=admin.headers)).json()
    me = (await client.get(f"{AUTH}/me", headers=bearer(pair))).json()
    assert listed == [me]
    assert (me["has_password"], me["identities"]) == (False, ["local"])
