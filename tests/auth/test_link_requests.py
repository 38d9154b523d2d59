"""Issue #8: /password-reset-request and /resend-verification do the same work inside the request for
a known and an unknown email — they record the ask — and auth's upkeep mails the link moments later
when there is someone to write to. (Their timing is measured by `make bench`, not here.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.auth import LINK, auth_upkeep, new_email, register, register_verified
from tests.support.smtp import SmtpSink

ASKS = {
    "password-reset-request": ("reset-password", register_verified),
    "resend-verification": ("verify-email", None),
}


@contextmanager
def statements_of(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements sent while the block runs, parameters left out."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The test's savepoints are numbered: the number is not work.
        seen.append(re.sub(r"sa_savepoint_\d+", "sa_savepoint", statement))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def known_email(client: httpx.AsyncClient, app: Any, path: str) -> str:
    if path == "password-reset-request":
        return await register_verified(client, app)
    return await register(client)


async def rows(app: Any, query: str, **params: Any) -> int:
    async with app.state.database.sessions() as session:
        return int(await session.scalar(text(query), params) or 0)


@pytest.mark.parametrize("path", list(ASKS))
async def test_the_request_does_the_same_work_for_a_known_and_an_unknown_email(
    client: httpx.AsyncClient, app: Any, engine: AsyncEngine, path: str
) -> None:
    email = await known_email(client, app, path)
    await auth_upkeep(app).fulfil_link_requests()
    mails_before = await rows(app, "SELECT count(*) FROM mail.outbox")
    tokens_before = await rows(app, "SELECT count(*) FROM auth.email_tokens")
    with statements_of(engine) as known_statements:
        known = await client.post(f"/api/v1/auth/{path}", json={"email": email})
    with statements_of(engine) as unknown_statements:
        unknown = await client.post(f"/api/v1/auth/{path}", json={"email": new_email()})
    assert known.status_code == unknown.status_code == 202 and known.json() == unknown.json()
    # The same statements, and nothing minted or mailed yet: the request only recorded two asks.
    assert known_statements == unknown_statements
    assert await rows(app, "SELECT count(*) FROM auth.email_link_requests") == 2
    assert await rows(app, "SELECT count(*) FROM mail.outbox") == mails_before
    assert await rows(app, "SELECT count(*) FROM auth.email_tokens") == tokens_before
    # The upkeep fulfils both asks: a token and a mail for the account, nothing for nobody.
    assert await auth_upkeep(app).fulfil_link_requests() == 2
    assert await rows(app, "SELECT count(*) FROM auth.email_link_requests") == 0
    assert await rows(app, "SELECT count(*) FROM mail.outbox") == mails_before + 1
    assert await rows(app, "SELECT count(*) FROM auth.email_tokens") == tokens_before + 1


async def test_mail_arrives_for_a_known_email_and_nothing_for_an_unknown_one(
    live_client: httpx.AsyncClient, live_app: Any, smtp: SmtpSink
) -> None:
    """The live app: its upkeep and mail sender run by themselves, SMTP is real."""
    known = await register(live_client)
    await smtp.wait_for(known)  # the verification mail of the registration
    nobody = new_email()
    for email in (nobody, known):
        for path in ASKS:
            assert (await live_client.post(f"/api/v1/auth/{path}", json={"email": email})).status_code == 202
    messages = await smtp.wait_for(known, count=3)
    pages = sorted(match.group(1) for message in messages if (match := LINK.search(message.get_content())))
    assert pages == ["reset-password", "verify-email", "verify-email"]
    # The unknown email's asks were taken (and the sender is idle), and nothing went to it.
    assert await auth_upkeep(live_app).fulfil_link_requests() == 0
    assert await rows(live_app, "SELECT count(*) FROM auth.email_link_requests") == 0
    assert await rows(live_app, "SELECT count(*) FROM mail.outbox WHERE recipient = :r", r=nobody) == 0
    assert all(nobody not in str(message["To"]) for message in smtp.messages)


async def test_a_disabled_or_verified_account_gets_no_link(client: httpx.AsyncClient, app: Any) -> None:
    email = await register_verified(client, app)
    await client.post("/api/v1/auth/resend-verification", json={"email": email})
    async with app.state.database.sessions() as session:
        await session.execute(text("UPDATE auth.users SET is_active = false WHERE email = :e"), {"e": email})
        await session.commit()
    await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    before = await rows(app, "SELECT count(*) FROM mail.outbox WHERE recipient = :r", r=email)
    assert await auth_upkeep(app).fulfil_link_requests() == 2
    assert await rows(app, "SELECT count(*) FROM mail.outbox WHERE recipient = :r", r=email) == before


@pytest.mark.parametrize("path", list(ASKS))
async def test_asks_for_one_link_that_wait_together_send_one_mail(
    client: httpx.AsyncClient, app: Any, path: str
) -> None:
    """More asks than one pass takes (20): still one token and one mail."""
    email = await known_email(client, app, path)
    await auth_upkeep(app).fulfil_link_requests()
    mails_before = await rows(app, "SELECT count(*) FROM mail.outbox WHERE recipient = :r", r=email)
    for _ in range(25):
        assert (await client.post(f"/api/v1/auth/{path}", json={"email": email})).status_code == 202
    assert await rows(app, "SELECT count(*) FROM auth.email_link_requests") == 25
    await auth_upkeep(app).fulfil_link_requests()
    assert await rows(app, "SELECT count(*) FROM auth.email_link_requests") == 0
    assert (
        await rows(app, "SELECT count(*) FROM mail.outbox WHERE recipient = :r", r=email) == mails_before + 1
    )
