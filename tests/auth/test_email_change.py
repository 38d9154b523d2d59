"""Changing the account's email address: the link to the new address, the notices to the old one,
enumeration safety, single-use links, the race for one address, and the event for other services."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth import public
from shop.auth.catalogs import MAIL
from shop.auth.mails import LINK, MAILS
from shop.auth.models import User
from shop.bootstrap import create_app
from shop.core.db import Database
from shop.localization.public import SHIPPED_LANGUAGES
from tests.support.app import http_client, make_settings
from tests.support.auth import PASSWORD, bearer, login, new_email, register, register_verified
from tests.support.problems import assert_problem
from tests.support.self_service import (
    AUTH,
    ask_email_change,
    confirm_email_change,
    mailed_change_token,
    outbox_change_tokens,
    outbox_mail,
)
from tests.support.smtp import SmtpSink

ASKED = "A change of your email address was asked for"


async def verified_by_mail(client: httpx.AsyncClient, smtp: SmtpSink) -> tuple[str, dict[str, Any]]:
    """An account confirmed through the link the SMTP server received, signed in."""
    email = await register(client)
    (message,) = await smtp.wait_for(email)
    token = message.get_content().split("token=", 1)[1].split()[0]
    assert (await client.post(f"{AUTH}/verify-email", json={"token": token})).status_code == 200
    return email, await login(client, email)


async def test_the_new_address_gets_the_link_and_the_old_one_the_notices(
    live_client: httpx.AsyncClient, smtp: SmtpSink
) -> None:
    old, pair = await verified_by_mail(live_client, smtp)
    new = new_email()
    asked = await ask_email_change(live_client, pair, new.upper())
    assert asked.status_code == 202, asked.text

    token = await mailed_change_token(smtp, new)
    link_mail = (await smtp.wait_for(new))[0]
    assert link_mail["Subject"] == "Confirm your new email address"
    notices = await smtp.wait_for(old, count=2)  # the verification mail, then the notice
    assert notices[1]["Subject"] == ASKED
    assert "confirm-email-change" not in notices[1].get_content()

    confirmed = await confirm_email_change(live_client, token)
    assert confirmed.status_code == 200, confirmed.text
    done = (await smtp.wait_for(old, count=3))[2]
    assert done["Subject"] == "Your email address was changed"
    assert "token=" not in done.get_content()  # no link that acts without a sign-in

    # The session lives on, and the account is the new address's, verified.
    me = await live_client.get(f"{AUTH}/me", headers=bearer(pair))
    assert me.status_code == 200
    assert me.json()["email"] == new and me.json()["email_verified"] is True
    await login(live_client, new)
    refused = await live_client.post(f"{AUTH}/login", json={"email": old, "password": PASSWORD})
    assert_problem(refused, 401, "invalid_credentials")


async def test_a_taken_address_gets_a_mail_saying_so_and_the_answer_is_the_same(
    client: httpx.AsyncClient, app: Any
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    other = await register_verified(client, app)
    free = await ask_email_change(client, pair, new_email())
    taken = await ask_email_change(client, pair, other)
    assert taken.status_code == free.status_code == 202
    assert taken.json() == free.json()
    # The owner of the taken address is told, with no link; the asker's address is told both times.
    subject, body = (await outbox_mail(app, other))[-1]
    assert subject == "Someone tried to use this address for a second account"
    assert "token=" not in body
    assert [subject for subject, _ in await outbox_mail(app, email)][-2:] == [ASKED, ASKED]
    me = await client.get(f"{AUTH}/me", headers=bearer(pair))
    assert me.json()["email"] == email


async def test_mails_are_written_in_the_users_language(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    patched = await client.patch("/api/v1/profile", json={"preferred_language": "es"}, headers=bearer(pair))
    assert patched.status_code == 200, patched.text
    new = new_email()
    assert (await ask_email_change(client, pair, new)).status_code == 202
    assert (await outbox_mail(app, new))[-1][0] == "Confirma tu nueva dirección de correo electrónico"
    assert (await outbox_mail(app, email))[-1][0] == "Se ha pedido cambiar tu dirección de correo electrónico"
    assert (await confirm_email_change(client, (await outbox_change_tokens(app, new))[-1])).status_code == 200
    assert (await outbox_mail(app, email))[-1][0] == "Tu dirección de correo electrónico ha cambiado"


async def test_a_link_works_once_and_a_newer_ask_spends_the_older(
    client: httpx.AsyncClient, app: Any
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    first, second = new_email(), new_email()
    assert (await ask_email_change(client, pair, first)).status_code == 202
    assert (await ask_email_change(client, pair, second)).status_code == 202
    (older,) = await outbox_change_tokens(app, first)
    (newer,) = await outbox_change_tokens(app, second)
    assert_problem(await confirm_email_change(client, older), 400, "token_invalid")
    assert (await confirm_email_change(client, newer)).status_code == 200
    assert_problem(await confirm_email_change(client, newer), 400, "token_invalid")
    assert_problem(await confirm_email_change(client, "no-such-token"), 400, "token_invalid")
    me = await client.get(f"{AUTH}/me", headers=bearer(pair))
    assert me.json()["email"] == second


async def test_an_expired_link_is_refused(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    new = new_email()
    assert (await ask_email_change(client, pair, new)).status_code == 202
    (token,) = await outbox_change_tokens(app, new)
    async with app.state.database.sessions() as session, session.begin():
        await session.execute(text("UPDATE auth.email_changes SET expires_at = now() - interval '1 second'"))
    assert_problem(await confirm_email_change(client, token), 400, "token_invalid")
    page = await client.get("/confirm-email-change", params={"token": token})
    assert page.status_code == 410 and "This link has expired" in page.text


async def test_links_are_stored_hashed(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    new = new_email()
    assert (await ask_email_change(client, pair, new)).status_code == 202
    (token,) = await outbox_change_tokens(app, new)
    async with app.state.database.sessions() as session:
        stored = (
            (await session.execute(text("SELECT token_hash::text FROM auth.email_changes"))).scalars().all()
        )
    assert stored and all(token not in value for value in stored)


async def test_a_wrong_password_counts_as_a_failed_login(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    for _ in range(4):
        assert_problem(
            await ask_email_change(client, pair, new_email(), "wrong password"),
            400,
            "invalid_current_password",
        )
    locked = await ask_email_change(client, pair, new_email(), "wrong password")
    assert_problem(locked, 423, "account_locked")
    assert_problem(await ask_email_change(client, pair, new_email()), 423, "account_locked")


async def test_the_same_address_and_unknown_fields_are_refused(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    assert_problem(await ask_email_change(client, pair, email.upper()), 422, "validation_error")
    extra = await client.post(
        f"{AUTH}/email-change",
        json={"new_email": new_email(), "password": PASSWORD, "email_verified": True},
        headers=bearer(pair),
    )
    assert_problem(extra, 422, "validation_error")
    assert_problem(await client.post(f"{AUTH}/email-change", json={}), 401, "not_authenticated")


async def test_a_new_password_cancels_a_pending_change(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    new = new_email()
    assert (await ask_email_change(client, pair, new)).status_code == 202
    changed = await client.post(
        f"{AUTH}/change-password",
        json={
            "current_password": PASSWORD,
            "new_password": "another fine phrase",
            "confirm_password": "another fine phrase",
        },
        headers=bearer(pair),
    )
    assert changed.status_code == 200, changed.text
    (token,) = await outbox_change_tokens(app, new)
    assert_problem(await confirm_email_change(client, token), 400, "token_invalid")


async def test_the_change_publishes_user_email_changed_in_its_transaction(
    client: httpx.AsyncClient, app: Any
) -> None:
    seen: list[tuple[public.EmailChanged, str]] = []

    async def handler(session: AsyncSession, event: public.EmailChanged) -> None:
        # Inside the change's transaction: the account already has its new address.
        stored = await session.scalar(select(User.email).where(User.id == event.user_id))
        seen.append((event, str(stored)))

    app.state.auth.events.subscribe(public.EmailChanged, handler)
    email = await register_verified(client, app)
    pair = await login(client, email)
    new = new_email()
    assert (await ask_email_change(client, pair, new)).status_code == 202
    assert seen == []
    assert (await confirm_email_change(client, (await outbox_change_tokens(app, new))[-1])).status_code == 200
    assert [(event.email, stored) for event, stored in seen] == [(new, new)]
    assert str(seen[0][0].user_id) == pair["user"]["id"]


async def test_the_page_confirms_with_a_button_and_a_get_spends_nothing(
    client: httpx.AsyncClient, app: Any
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    new = new_email()
    assert (await ask_email_change(client, pair, new)).status_code == 202
    (token,) = await outbox_change_tokens(app, new)
    for _ in range(2):
        page = await client.get("/confirm-email-change", params={"token": token})
        assert page.status_code == 200
        assert "Use this email address" in page.text and "/api/v1/auth/email-change/confirm" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    spanish = await client.get(
        "/confirm-email-change", params={"token": token}, headers={"Accept-Language": "es"}
    )
    assert "Usar esta dirección" in spanish.text
    assert (await confirm_email_change(client, token)).status_code == 200
    used = await client.get("/confirm-email-change", params={"token": token})
    assert used.status_code == 410 and "already been used" in used.text
    unknown = await client.get("/confirm-email-change", params={"token": "nope"})
    assert unknown.status_code == 404 and "<form" not in unknown.text


async def test_two_accounts_racing_for_one_address_one_wins(
    live_client: httpx.AsyncClient, smtp: SmtpSink
) -> None:
    (_, first), (_, second) = [await verified_by_mail(live_client, smtp) for _ in range(2)]
    wanted = new_email()
    assert (await ask_email_change(live_client, first, wanted)).status_code == 202
    assert (await ask_email_change(live_client, second, wanted)).status_code == 202
    tokens = [await mailed_change_token(smtp, wanted, count) for count in (1, 2)]
    answers = await asyncio.gather(*(confirm_email_change(live_client, token) for token in tokens))
    assert sorted(answer.status_code for answer in answers) == [200, 409]
    assert_problem(next(a for a in answers if a.status_code == 409), 409, "email_taken")
    owners = [
        (await live_client.get(f"{AUTH}/me", headers=bearer(pair))).json()["email"]
        for pair in (first, second)
    ]
    assert owners.count(wanted) == 1


async def test_two_confirmations_of_one_link_one_wins(live_client: httpx.AsyncClient, smtp: SmtpSink) -> None:
    _, pair = await verified_by_mail(live_client, smtp)
    new = new_email()
    assert (await ask_email_change(live_client, pair, new)).status_code == 202
    token = await mailed_change_token(smtp, new)
    answers = await asyncio.gather(*(confirm_email_change(live_client, token) for _ in range(2)))
    assert sorted(answer.status_code for answer in answers) == [200, 400]
    assert (await live_client.get(f"{AUTH}/me", headers=bearer(pair))).json()["email"] == new


def test_every_mail_of_the_change_exists_in_every_shipped_language() -> None:
    """A mail that tells the owner is written in the owner's language: auth's `mail` catalog has
    every message of all four in each shipped language, with the placeholders of the English one."""
    assert {"en", "es", "zh"} <= set(SHIPPED_LANGUAGES)
    for name in ("email_change_confirm", "email_change_taken", "email_change_requested", "email_changed"):
        mail = MAILS[name]
        for language in SHIPPED_LANGUAGES:
            for message in (mail.subject, *mail.paragraphs):
                if message == LINK:
                    continue
                assert message in MAIL.messages(language), (language, name, message)
                translated = MAIL.gettext(language, message)
                assert set(re.findall(r"\{\w+\}", translated)) == set(re.findall(r"\{\w+\}", message)), (
                    language,
                    name,
                )


async def test_asks_are_limited_per_account_and_per_new_address(
    database_url: str, tmp_path: Path, db: Database
) -> None:
    app = create_app(
        make_settings(database_url, tmp_path, rate_limit_enabled=True),
        database=db,
        run_background_loops=False,
    )
    async with app.router.lifespan_context(app), http_client(app) as client:
        first = await login(client, await register_verified(client, app))
        for _ in range(3):
            assert (await ask_email_change(client, first, new_email())).status_code == 202
        assert_problem(await ask_email_change(client, first, new_email()), 429, "rate_limited")
        # One address cannot be flooded from several accounts either.
        target = new_email()
        others = [await login(client, await register_verified(client, app)) for _ in range(2)]
        for pair in (*others, *others[:1]):
            assert (await ask_email_change(client, pair, target)).status_code == 202
        assert_problem(await ask_email_change(client, others[1], target), 429, "rate_limited")
