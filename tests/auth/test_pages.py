"""The pages mail links open (/verify-email, /reset-password): HTML, in the reader's language, with a
strict Content-Security-Policy, and a GET that never spends the token."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.support.auth import PASSWORD, outbox_tokens, register, register_verified

NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]+)'")


def assert_strict_page(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "*" not in policy
    nonce = NONCE.search(directives["script-src"])
    assert nonce is not None and directives["script-src"] == f"'nonce-{nonce.group(1)}'"
    # Every inline script and style carries the nonce, and nothing is loaded from anywhere.
    page = response.text
    assert page.count("<script") == page.count(f'<script nonce="{nonce.group(1)}">') == 1
    assert page.count("<style") == page.count(f'<style nonce="{nonce.group(1)}">') == 1
    assert not re.search(r"\b(src|href)\s*=", page)
    assert "http://" not in page and "https://" not in page


async def test_verify_page_shows_a_button_and_does_not_spend_the_token(
    client: httpx.AsyncClient, app: Any
) -> None:
    email = await register(client)
    token = (await outbox_tokens(app, email))[-1]
    for _ in range(2):  # a mail scanner, then the reader
        page = await client.get("/verify-email", params={"token": token})
        assert page.status_code == 200
        assert_strict_page(page)
        assert '<html lang="en">' in page.text
        assert "Confirm my email address" in page.text
        assert f'data-token="{token}"' in page.text
        assert 'data-endpoint="/api/v1/auth/verify-email"' in page.text
    confirmed = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert confirmed.status_code == 200

    used = await client.get("/verify-email", params={"token": token})
    assert used.status_code == 410
    assert_strict_page(used)
    assert "already been used" in used.text
    assert "<form" not in used.text and token not in used.text


@pytest.mark.parametrize("token", [None, "", "no-such-token", "x" * 129, "<script>alert(1)</script>"])
async def test_unknown_tokens_are_said_to_be_invalid(client: httpx.AsyncClient, token: str | None) -> None:
    for path in ("/verify-email", "/reset-password"):
        page = await client.get(path, params={} if token is None else {"token": token})
        assert page.status_code == 404
        assert_strict_page(page)
        assert "This link is not valid" in page.text
        assert "<form" not in page.text
        assert "<script>alert" not in page.text


async def test_expired_tokens_are_said_to_have_expired(client: httpx.AsyncClient, app: Any) -> None:
    email = await register(client)
    token = (await outbox_tokens(app, email))[-1]
    async with app.state.database.sessions() as session, session.begin():
        await session.execute(text("UPDATE auth.email_tokens SET expires_at = now() - interval '1 second'"))
    page = await client.get("/verify-email", params={"token": token})
    assert page.status_code == 410
    assert "This link has expired" in page.text


async def test_reset_page_shows_a_form_until_the_token_is_used(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    asked = await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    assert asked.status_code == 202
    token = (await outbox_tokens(app, email, "reset-password"))[-1]
    # A verification token is not a reset token, and the other way round.
    assert (await client.get("/verify-email", params={"token": token})).status_code == 404

    page = await client.get("/reset-password", params={"token": token})
    assert page.status_code == 200
    assert_strict_page(page)
    assert 'type="password"' in page.text and 'autocomplete="new-password"' in page.text
    assert 'minlength="8"' in page.text
    assert 'data-endpoint="/api/v1/auth/password-reset"' in page.text

    new = PASSWORD + " again"
    reset = await client.post(
        "/api/v1/auth/password-reset", json={"token": token, "password": new, "confirm_password": new}
    )
    assert reset.status_code == 200
    used = await client.get("/reset-password", params={"token": token})
    assert used.status_code == 410
    assert "already been used" in used.text


@pytest.mark.parametrize(
    ("accept_language", "lang", "words"),
    [
        ("es-ES,es;q=0.9,en;q=0.5", "es", "Confirma tu dirección de correo electrónico"),
        ("zh-CN,zh;q=0.9", "zh", "确认你的电子邮件地址"),
        ("fr-FR,de;q=0.8", "fr", "Confirmer mon adresse e-mail"),
        ("de-CH", "de", "Meine E-Mail-Adresse bestätigen"),
        ("ja-JP", "ja", "メールアドレスを確認する"),
        ("pt-BR", "pt", "Confirmar meu endereço de e-mail"),
        ("ko-KR,ru;q=0.8", "en", "Confirm your email address"),
        ("en;q=0.2, es;q=0.8", "es", "Confirmar mi dirección de correo"),
    ],
)
async def test_pages_speak_the_language_of_accept_language(
    client: httpx.AsyncClient, app: Any, accept_language: str, lang: str, words: str
) -> None:
    email = await register(client)
    token = (await outbox_tokens(app, email))[-1]
    page = await client.get(
        "/verify-email", params={"token": token}, headers={"Accept-Language": accept_language}
    )
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    assert page.headers["content-language"] == lang
    assert words in page.text


async def test_pages_are_not_api_operations(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/verify-email" not in paths and "/reset-password" not in paths
