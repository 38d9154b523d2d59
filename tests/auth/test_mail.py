"""Mail through the outbox to a real SMTP server (aiosmtpd in the test process)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.core.db import Database
from shop.core.mail.outbox import RenderedMail, enqueue
from shop.core.mail.sender import MailSender
from tests.support.app import AppWith, http_client, make_settings, truncate_mutable
from tests.support.auth import LINK, PASSWORD, register
from tests.support.net import free_port
from tests.support.smtp import SmtpSink
from tests.support.waiting import wait_until_async


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

    async def sent() -> Any:
        async with live_app.state.database.sessions() as session:
            row = (
                await session.execute(
                    text("SELECT sent_at, body FROM mail.outbox WHERE recipient = :r"), {"r": email}
                )
            ).one()
        return row if row.sent_at is not None else None

    row = await wait_until_async(sent, "the mail is marked sent", interval=0.05)
    assert row.sent_at is not None and row.body == ""


async def test_mail_waits_for_smtp_and_nothing_is_lost(app_with: AppWith, engine: AsyncEngine) -> None:
    port = free_port()  # nothing listens here yet
    sink = SmtpSink(port)
    try:
        async with (
            app_with(live=True, loops=True, smtp_host="127.0.0.1", smtp_port=port) as app,
            http_client(app) as client,
        ):
            # Registration does not wait for SMTP: it answers with the mail queued, not yet sent.
            email = await register(client)
            sent_at, _ = await outbox_row(engine, email)
            assert sent_at is None
            # The sender keeps trying while nothing listens...
            await wait_until_async(lambda: _tried(engine, email), "the sender tried", interval=0.05)
            # ...and delivers once the server is there.
            sink.start()
            (message,) = await sink.wait_for(email)
            assert LINK.search(message.get_content())
    finally:
        sink.stop()


async def _tried(engine: AsyncEngine, recipient: str) -> bool:
    return (await outbox_row(engine, recipient))[1] >= 1


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
    app_with: AppWith, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shop.mail")
    async with app_with(live=True, loops=True) as app, http_client(app) as client:
        email = await register(client)
        files = await wait_until_async(
            lambda: files_in(tmp_path / "mail", "*.eml"), "a saved mail", interval=0.05
        )
        assert len(files) == 1
        content = files[0].read_text(encoding="utf-8")
        assert email in content and PASSWORD not in content
        # 8bit UTF-8, not quoted-printable: the link can be copied from the file as it is.
        assert "Content-Transfer-Encoding: 8bit" in content and "=3D" not in content
        # The development copy is one log record like any other, with the link apart.
        (record,) = [r for r in caplog.records if getattr(r, "to", None) == email]
        record_fields: dict[str, Any] = record.__dict__
        assert record_fields["subject"] == "Confirm your email address"
        assert record_fields["file"] == str(files[0])
        (link,) = record_fields["links"]
        assert LINK.search(link) is not None and link in record_fields["body"]
        assert link in content.splitlines()


async def test_production_keeps_no_console_copy(app_with: AppWith, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shop.mail")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        async with (
            app_with(live=True, loops=True, environment="production") as app,
            http_client(app) as client,
        ):
            root.addHandler(caplog.handler)  # outside tests the app installs its JSON handler alone
            email = await register(client)

            def records() -> list[logging.LogRecord]:
                return [r for r in caplog.records if getattr(r, "to", None) == email]

            await wait_until_async(records, f"the log record of the mail to {email}", 5, interval=0.05)
            (record,) = records()
            assert not hasattr(record, "body") and not hasattr(record, "links")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def files_in(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.exists() else []
