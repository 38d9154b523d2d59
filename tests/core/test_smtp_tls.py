"""SMTP_TLS against a real aiosmtpd server with a certificate made here: mail and the SMTP login
cross the network encrypted (STARTTLS or implicit TLS), and starttls mode refuses a server that
would take them in clear text."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.core.db import Database
from shop.core.mail.outbox import RenderedMail, enqueue
from shop.core.mail.sender import MailSender
from tests.support.app import make_settings, truncate_mutable
from tests.support.auth import new_email
from tests.support.smtp import SmtpSink
from tests.support.tls import self_signed
from tests.support.waiting import wait_until_async

PASSWORD = "smtp-password-never-in-clear"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server_context(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    cert_file, key_file = certificate
    # The sender verifies certificates as usual: it trusts this one because it is the CA bundle.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


class Logins:
    """aiosmtpd authenticator: records each SMTP login and whether TLS was up when it came."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool]] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.seen.append((auth_data.login.decode(), auth_data.password.decode(), session.ssl is not None))
        return AuthResult(success=auth_data.password.decode() == PASSWORD)


@pytest.fixture
def sink_factory() -> Iterator[Any]:
    sinks: list[SmtpSink] = []

    def make(**options: Any) -> SmtpSink:
        sink = SmtpSink(**options)
        sink.start()
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.stop()


@asynccontextmanager
async def one_mail_sent(
    database_url: str, engine: AsyncEngine, tmp_path: Path, port: int, tls: str, *, login: bool = False
) -> AsyncIterator[str]:
    """One mail in the outbox and a sender on it, to the SMTP server on `port`; yields the recipient.
    `login`: the sender signs in to the server as `shop`."""
    account = {"smtp_username": "shop", "smtp_password": PASSWORD} if login else {}
    settings = make_settings(
        database_url, tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_tls=tls, **account
    )
    database = Database.from_url(database_url)
    recipient = new_email()
    async with database.sessions() as session:
        await enqueue(session, recipient, RenderedMail(subject="TLS", body="a link with a live token"))
        await session.commit()
    sender = MailSender(settings, database)
    sender.start()
    try:
        yield recipient
    finally:
        await sender.stop()
        await database.dispose()
        await truncate_mutable(engine)


async def test_mail_and_login_travel_over_starttls(
    database_url: str, engine: AsyncEngine, tmp_path: Path, server_context: ssl.SSLContext, sink_factory: Any
) -> None:
    logins = Logins()
    sink = sink_factory(
        tls_context=server_context, require_starttls=True, authenticator=logins, auth_require_tls=True
    )
    async with one_mail_sent(database_url, engine, tmp_path, sink.port, "starttls", login=True) as recipient:
        (message,) = await sink.wait_for(recipient)
        assert message.get_content().strip() == "a link with a live token"
        assert logins.seen == [("shop", PASSWORD, True)]


async def test_mail_travels_over_implicit_tls(
    database_url: str, engine: AsyncEngine, tmp_path: Path, server_context: ssl.SSLContext, sink_factory: Any
) -> None:
    sink = sink_factory(ssl_context=server_context)
    async with one_mail_sent(database_url, engine, tmp_path, sink.port, "tls") as recipient:
        (message,) = await sink.wait_for(recipient)
        assert message["Subject"] == "TLS"


async def test_starttls_mode_refuses_a_plaintext_server(
    database_url: str, engine: AsyncEngine, tmp_path: Path, sink_factory: Any
) -> None:
    logins = Logins()
    # A server that offers no STARTTLS and would take the login and the mail in clear text.
    sink = sink_factory(authenticator=logins, auth_require_tls=False)
    async with one_mail_sent(database_url, engine, tmp_path, sink.port, "starttls", login=True) as recipient:

        async def tried_twice() -> Any:
            async with engine.connect() as connection:
                row = (
                    await connection.execute(
                        text("SELECT attempts, sent_at, last_error FROM mail.outbox WHERE recipient = :r"),
                        {"r": recipient},
                    )
                ).one()
            return row if row.attempts >= 2 else None

        row = await wait_until_async(tried_twice, "the sender tried twice", interval=0.05)
        assert row.sent_at is None
        assert "STARTTLS" in (row.last_error or "").upper()
        assert sink.messages == []
        assert logins.seen == []  # the password never left
