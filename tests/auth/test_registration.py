"""Registration, email verification and its resend."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update

from shop.auth.models import EmailToken, User
from tests.support.app import make_settings
from tests.support.auth import PASSWORD, auth_upkeep, login, new_email, outbox_tokens, register
from tests.support.problems import assert_problem

REGISTER = "/api/v1/auth/register"


def body(email: str, password: str = PASSWORD, confirm: str | None = None) -> dict[str, str]:
    return {
        "email": email,
        "password": password,
        "confirm_password": confirm if confirm is not None else password,
    }


async def test_register_answers_201_with_user_id(client: httpx.AsyncClient, app: Any) -> None:
    email = new_email()
    response = await client.post(REGISTER, json=body(email))
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {"message", "user_id"}
    async with app.state.database.sessions() as session:
        user = await session.get(User, data["user_id"])
        assert (
            user is not None and user.email == email and not user.email_verified and user.role == "customer"
        )
        assert user.password_hash.startswith("$argon2id$")


async def test_email_is_case_insensitive_and_unique(client: httpx.AsyncClient) -> None:
    email = new_email()
    await register(client, email.upper())
    again = await client.post(REGISTER, json=body(email))
    assert_problem(again, 409, "email_taken")


@pytest.mark.parametrize(
    ("password", "confirm", "field"),
    [
        ("short7!", None, "password"),  # 7 < 8
        ("x" * 129, None, "password"),
        ("qwertyuiop", None, "password"),  # a commonly breached password
        ("Password123", None, "password"),  # breached, whatever its case
        (PASSWORD, PASSWORD + "!", None),  # confirmation differs
    ],
)
async def test_password_rules(
    client: httpx.AsyncClient, password: str, confirm: str | None, field: str | None
) -> None:
    response = await client.post(REGISTER, json=body(new_email(), password, confirm))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"]
    if field:
        assert any(field in err["loc"] for err in problem["errors"])
    assert password not in response.text  # refused input is never echoed


async def test_password_may_not_be_the_email(client: httpx.AsyncClient) -> None:
    email = new_email()
    response = await client.post(REGISTER, json=body(email, email.upper()))
    assert response.status_code == 422


async def test_no_composition_rules(client: httpx.AsyncClient) -> None:
    # Lower-case letters and spaces only: long enough, not breached, so it passes.
    await register(client, password="plain lowercase words here")


async def test_password_min_length_is_configurable(database_url: str, tmp_path: Any, db: Any) -> None:
    from shop.bootstrap import create_app
    from tests.support.app import http_client

    app = create_app(
        make_settings(database_url, tmp_path, password_min_length=12), database=db, run_background_loops=False
    )
    async with app.router.lifespan_context(app), http_client(app) as client:
        short = await client.post(REGISTER, json=body(new_email(), "elevenchars"))
        assert short.status_code == 422
        ok = await client.post(REGISTER, json=body(new_email(), "twelve chars"))
        assert ok.status_code == 201


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "not-an-email", "password": PASSWORD, "confirm_password": PASSWORD},
        {"email": new_email(), "password": PASSWORD},
        {"email": new_email(), "password": PASSWORD, "confirm_password": PASSWORD, "role": "admin"},
        {"email": new_email(), "password": PASSWORD, "confirm_password": PASSWORD, "email_verified": True},
        {"email": 5, "password": PASSWORD, "confirm_password": PASSWORD},
    ],
)
async def test_bad_bodies_are_422(client: httpx.AsyncClient, payload: dict[str, Any]) -> None:
    response = await client.post(REGISTER, json=payload)
    assert_problem(response, 422, "validation_error")


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        REGISTER, content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422, "validation_error")


async def test_verification_mail_link_and_token_at_rest(client: httpx.AsyncClient, app: Any) -> None:
    email = await register(client)
    async with app.state.database.sessions() as session:
        body_text = await session.scalar(
            text("SELECT body FROM mail.outbox WHERE recipient = :r"), {"r": email}
        )
        hashes = (await session.scalars(select(EmailToken.token_hash))).all()
    assert "http://shop.test/verify-email?token=" in body_text
    token = (await outbox_tokens(app, email))[0]
    assert hashlib.sha256(token.encode()).digest() in hashes
    assert token.encode() not in hashes


async def test_verify_email_once(client: httpx.AsyncClient, app: Any) -> None:
    email = await register(client)
    token = (await outbox_tokens(app, email))[0]
    unverified = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert_problem(unverified, 403, "email_not_verified")
    first = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert first.status_code == 200 and "message" in first.json()
    second = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert_problem(second, 400, "token_invalid")
    await login(client, email)


async def test_unknown_and_expired_verification_tokens(client: httpx.AsyncClient, app: Any) -> None:
    unknown = await client.post("/api/v1/auth/verify-email", json={"token": "nope"})
    assert_problem(unknown, 400, "token_invalid")
    email = await register(client)
    token = (await outbox_tokens(app, email))[0]
    async with app.state.database.sessions() as session:
        await session.execute(update(EmailToken).values(expires_at=text("now() - interval '1 second'")))
        await session.commit()
    expired = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert_problem(expired, 400, "token_invalid")


async def test_verification_token_lives_24_hours(client: httpx.AsyncClient, app: Any) -> None:
    email = await register(client)
    async with app.state.database.sessions() as session:
        seconds = await session.scalar(
            text(
                "SELECT extract(epoch FROM t.expires_at - t.created_at) FROM auth.email_tokens t "
                "JOIN auth.users u ON u.id = t.user_id WHERE u.email = :e"
            ),
            {"e": email},
        )
    assert round(float(seconds)) == 86400


async def test_resend_answers_the_same_and_keeps_older_tokens(client: httpx.AsyncClient, app: Any) -> None:
    email = await register(client)
    known = await client.post("/api/v1/auth/resend-verification", json={"email": email})
    unknown = await client.post("/api/v1/auth/resend-verification", json={"email": new_email()})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    first, second = await outbox_tokens(app, email)
    assert first != second
    # A new token does not cancel the older unexpired one.
    response = await client.post("/api/v1/auth/verify-email", json={"token": first})
    assert response.status_code == 200


async def test_resend_to_verified_account_sends_nothing(client: httpx.AsyncClient, app: Any) -> None:
    email = await register(client)
    token = (await outbox_tokens(app, email))[0]
    await client.post("/api/v1/auth/verify-email", json={"token": token})
    await client.post("/api/v1/auth/resend-verification", json={"email": email})
    assert len(await outbox_tokens(app, email)) == 1


async def subject_of_mail_to(app: Any, email: str) -> str:
    async with app.state.database.sessions() as session:
        subject = await session.scalar(
            text("SELECT subject FROM mail.outbox WHERE recipient = :r"), {"r": email}
        )
    return str(subject)


async def test_mail_language_follows_accept_language(client: httpx.AsyncClient, app: Any) -> None:
    cases = {
        "es-ES,es;q=0.9,en;q=0.5": "Confirma tu dirección de correo electrónico",
        "zh-CN,zh;q=0.9": "请确认您的电子邮件地址",
        "fr-CH, fr;q=0.9": "Confirmez votre adresse e-mail",
        "de-AT": "Bestätigen Sie Ihre E-Mail-Adresse",
        "ja": "メールアドレスの確認",
        "pt-BR": "Confirme seu endereço de e-mail",
        "ko-KR, xx;q=0.5": "Confirm your email address",  # no Korean catalog: English
    }
    for header, subject in cases.items():
        email = new_email()
        response = await client.post(REGISTER, json=body(email), headers={"Accept-Language": header})
        assert response.status_code == 201
        assert await subject_of_mail_to(app, email) == subject, header


async def test_later_mail_uses_the_profile_language(client: httpx.AsyncClient, app: Any) -> None:
    email = new_email()
    await client.post(REGISTER, json=body(email), headers={"Accept-Language": "zh"})
    await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    await auth_upkeep(app).fulfil_link_requests()
    async with app.state.database.sessions() as session:
        subjects = (
            await session.scalars(text("SELECT subject FROM mail.outbox WHERE recipient = :r"), {"r": email})
        ).all()
    assert "重置您的密码" in subjects


async def test_registration_creates_the_profile(client: httpx.AsyncClient, app: Any) -> None:
    email = new_email()
    await client.post(REGISTER, json=body(email), headers={"Accept-Language": "es"})
    token = (await outbox_tokens(app, email))[0]
    await client.post("/api/v1/auth/verify-email", json={"token": token})
    pair = await login(client, email)
    profile = await client.get("/api/v1/profile", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert profile.status_code == 200
    assert profile.json()["preferred_language"] == "es"
    assert profile.json()["preferred_currency"] == "USD"


async def test_account_deletion_erases_the_profile(client: httpx.AsyncClient, app: Any) -> None:
    email = new_email()
    await client.post(REGISTER, json=body(email))
    token = (await outbox_tokens(app, email))[0]
    await client.post("/api/v1/auth/verify-email", json={"token": token})
    pair = await login(client, email)
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    created = await client.post(
        "/api/v1/addresses",
        headers=headers,
        json={
            "type": "both",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "address_line_1": "1 Main St",
            "city": "London",
            "postal_code": "N1 1AA",
            "country_code": "gb",
        },
    )
    assert created.status_code == 201, created.text
    assert (
        await client.request("DELETE", "/api/v1/auth/me", headers=headers, json={"password": PASSWORD})
    ).status_code == 204
    async with app.state.database.sessions() as session:
        left = await session.scalar(
            text(
                "SELECT (SELECT count(*) FROM users.profiles WHERE user_id = :u)"
                " + (SELECT count(*) FROM users.addresses WHERE user_id = :u)"
            ),
            {"u": pair["user"]["id"]},
        )
    assert left == 0
