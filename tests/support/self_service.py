"""Steps of the self-service tests: asking for an email change and reading its mailed link."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import select, text

from shop.core.mail.outbox import OutboxMail
from tests.support.auth import PASSWORD, bearer
from tests.support.smtp import SmtpSink

AUTH = "/api/v1/auth"
CHANGE_LINK = re.compile(r"(https?://\S+)/confirm-email-change\?token=([A-Za-z0-9_\-]+)")


async def ask_email_change(
    client: httpx.AsyncClient, pair: dict[str, Any], new_email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        f"{AUTH}/email-change", json={"new_email": new_email, "password": password}, headers=bearer(pair)
    )


async def confirm_email_change(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{AUTH}/email-change/confirm", json={"token": token})


async def outbox_mail(app: Any, email: str) -> list[tuple[str, str]]:
    """(subject, body) of every mail to `email` in the outbox, oldest first."""
    async with app.state.database.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxMail.subject, OutboxMail.body)
                .where(OutboxMail.recipient == email)
                # created_at is the transaction's start in rolled-back tests: insertion order breaks ties.
                .order_by(OutboxMail.created_at, text("xmin::text::bigint"), text("ctid"))
            )
        ).all()
    return [(row[0], row[1]) for row in rows]


async def outbox_change_tokens(app: Any, email: str) -> list[str]:
    """Tokens of the email-change links mailed to `email`, oldest first."""
    return [m.group(2) for _, body in await outbox_mail(app, email) for m in [CHANGE_LINK.search(body)] if m]


def change_token(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    match = CHANGE_LINK.search(body.get_content())
    assert match, body.get_content()
    return match.group(2)


async def mailed_change_token(smtp: SmtpSink, email: str, count: int = 1) -> str:
    """The token of the `count`-th mail to `email` that the SMTP server received."""
    return change_token((await smtp.wait_for(email, count=count))[count - 1])
