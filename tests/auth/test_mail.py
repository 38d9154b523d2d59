"""Mail through the outbox to a real SMTP server (aiosmtpd in the test process)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.bootstrap import create_app
from shop.core.db import Database
from shop.core.mail.outbox import RenderedMail, enqueue
from shop.core.mail.sender import MailSender
from tests.support.app import http_client, make_settings, truncate_mutable
from tests.support.auth import LINK, PASSWORD, register
from tests.support.net import DELIVERY_SECONDS, free_port
from tests.support.smtp import SmtpSink


async def test_verification_mail_reaches_smtp(live_client: httpx.AsyncClient, smtp: SmtpSink) -> None:
    email = await register(live_client)
    (message,) = await smtp.wait_for(email)
    body = message.get_content()
    assert message["Subject"] == "Confirm your email address"
    match = LINK.search(body)
    assert match and "http://shop.test/verify-email?token=" in body
    response = await live_client.post("/api/v1/auth/verify-email", json={"token": match.group(2)})
    assert response.status_code == 200


async def test_delivered_mail_leaves_no_token_at_rest(
    live_client: httpx.AsyncClient, live_app: Any, smtp: SmtpSink
) -> None:
    email = await register(live_client)
    await smtp.wait_for(email)
    # The sender marks the mail sent just after the server took it.
    deadline = time.monotonic() + DELIVERY_SECONDS
    while True:
        async with live_app.state.database.sessions() as session:
            row = (
                await session.execute(
                    text("SELECT sent_at, body FROM mail.outbox WHERE recipient = :r"), {"r": email}
                )
            ).one()
        if row.sent_at is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert row.sent_at is not None and row.body == ""


async def test_mail_waits_for_smtp_and_nothing_is_lost(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens here yet
    app = create_app(make_settings(database_url, tmp_path, smtp_host="127.0.0.1", smtp_port=port))
    sink = SmtpSink(port)
    try:
        async with app.router.lifespan_context(app), http_client(app) as client:
            # Registration does not wait for SMTP: it answers with the mail queued, not yet sent.
            email = await register(client)
            sent_at, _ = await outbox_row(engine, email)
            assert sent_at is None
            # The sender keeps trying while nothing listens...
            deadline = time.monotonic() + DELIVERY_SECONDS
            while (await outbox_row(engine, email))[1] < 1:
                assert time.monotonic() < deadline, "the sender never tried"
                await asyncio.sleep(0.05)
            # ...and delivers once the server is there.
            sink.start()
            (message,) = await sink.wait_for(email)
            assert LINK.search(message.get_content())
    finally:
        sink.stop()
        await truncate_mutable(engine)


async def outbox_row(engine: AsyncEngine, recipient: str) -> tuple[Any, int]:
    """(sent_at, attempts) of the one mail to `recipient`."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT sent_at, attempts FROM mail.outbox WHERE recipient = :r"), {"r": recipient}
            )
        ).one()
    return row.sent_at, row.attempts


async def test_two_senders_never_send_one_mail_twice(
    database_url: str, engine: AsyncEngine, tmp_path: Path, smtp: SmtpSink
) -> None:
    settings = make_settings(database_url, tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port)
    database = Database.from_url(database_url)
    try:
        async with database.sessions() as session:
            for index in range(30):
                await enqueue(
                    session, f"bulk-{index}@example.com", RenderedMail(subject=f"n{index}", body="hello")
                )
            await session.commit()
        senders = [MailSender(settings, database), MailSender(settings, database)]
        for sender in senders:
            sender.start()
        for index in range(30):
            await smtp.wait_for(f"bulk-{index}@example.com")
        await asyncio.sleep(0.3)
        for sender in senders:
            await sender.stop()
        recipients = [message["To"] for message in smtp.messages]
        assert sorted(recipients) == sorted(f"bulk-{index}@example.com" for index in range(30))
    finally:
        await database.dispose()
        await truncate_mutable(engine)


async def test_without_smtp_host_mail_is_saved_as_eml(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(database_url, tmp_path))
    try:
        async with app.router.lifespan_context(app), http_client(app) as client:
            email = await register(client)
            deadline = time.monotonic() + DELIVERY_SECONDS
            while True:
                files = list((tmp_path / "mail").glob("*.eml")) if (tmp_path / "mail").exists() else []
                if files or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert len(files) == 1
            content = files[0].read_text()
            assert email in content and "verify-email?token=" in content
            assert PASSWORD not in content
            printed = capsys.readouterr().out
            # The console shows the readable link, not its quoted-printable encoding.
            assert f"--- mail to {email}: Confirm your email address" in printed
            assert LINK.search(printed) is not None
    finally:
        await truncate_mutable(engine)
