"""Mail: a durable outbox and its sender.

A mail is a row in `mail.outbox`, written in the same transaction as the change that causes it, so a
request never waits on SMTP and a rolled-back change sends nothing. A background sender hands rows
to SMTP with `FOR UPDATE SKIP LOCKED` (several instances never send one mail twice) and retries with
backoff until the server takes them. With no SMTP_HOST, mail is logged and saved as `.eml` files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from string import Template

import aiosmtplib
from sqlalchemy import DateTime, Index, Integer, String, Text, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.config import Settings
from shop.core.db import Base, Database
from shop.core.metrics import MAIL_FAILURES, MAILS_SENT, OUTBOX_BACKLOG

logger = logging.getLogger("shop.mail")

TEMPLATES = Path(__file__).parent / "templates" / "mail"
DEFAULT_LANGUAGE = "en"
MAX_BACKOFF_SECONDS = 300
BATCH_SIZE = 20


class OutboxMail(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # The sender's scan: only unsent mail, in order of when it is due.
        Index("ix_outbox_due", "next_attempt_at", postgresql_where=text("sent_at IS NULL")),
        {"schema": "mail"},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    body: str


def render(template: str, language: str, **values: str) -> RenderedMail:
    """Render `templates/mail/<language>/<template>.txt`, falling back to English.

    The first line is `Subject: …`, then a blank line, then the body; `$name` placeholders."""
    path = TEMPLATES / language / f"{template}.txt"
    if not path.exists():
        path = TEMPLATES / DEFAULT_LANGUAGE / f"{template}.txt"
    text = Template(path.read_text(encoding="utf-8")).substitute(values)
    head, _, body = text.partition("\n\n")
    subject = head.removeprefix("Subject:").strip()
    return RenderedMail(subject=subject, body=body)


async def enqueue(session: AsyncSession, recipient: str, mail: RenderedMail) -> None:
    """Put a mail in the outbox inside the caller's transaction."""
    session.add(OutboxMail(recipient=recipient, subject=mail.subject, body=mail.body))
    await session.flush()


def _backoff(base_seconds: float, attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, base_seconds * 2 ** min(attempts - 1, 16)))


class MailSender:
    """Drains the outbox. One per process; safe to run in many processes at once."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-sender")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                sent = await self.drain_once()
            except Exception:  # the sender must outlive database and SMTP outages
                logger.warning("mail sender pass failed; retrying", exc_info=True)
                sent = 0
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.mail_poll_seconds)

    async def drain_once(self) -> int:
        """Send what is due; return how many mails were handed over."""
        sent = 0
        async with self.database.sessions() as session, session.begin():
            due = (
                await session.scalars(
                    select(OutboxMail)
                    .where(OutboxMail.sent_at.is_(None), OutboxMail.next_attempt_at <= func.now())
                    .order_by(OutboxMail.created_at)
                    .limit(BATCH_SIZE)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for mail in due:
                try:
                    await self._deliver(mail)
                except Exception as exc:
                    MAIL_FAILURES.inc()
                    mail.attempts += 1
                    mail.next_attempt_at = datetime.now(UTC) + _backoff(
                        self.settings.mail_retry_base_seconds, mail.attempts
                    )
                    mail.last_error = f"{type(exc).__name__}: {exc}"[:500]
                    logger.warning(
                        "mail delivery failed", extra={"mail_id": str(mail.id), "attempts": mail.attempts}
                    )
                    # SMTP is down: the rest of the batch would fail the same way.
                    break
                mail.sent_at = datetime.now(UTC)
                # Links in mail carry live tokens: once delivered, they do not stay at rest here.
                mail.body = ""
                sent += 1
                MAILS_SENT.inc()
            backlog = await session.scalar(
                select(func.count()).select_from(OutboxMail).where(OutboxMail.sent_at.is_(None))
            )
            OUTBOX_BACKLOG.set(max(0, (backlog or 0) - sent))
        return sent

    def _message(self, mail: OutboxMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(idstring=mail.id.hex, domain="shop.local")
        message.set_content(mail.body)
        return message

    async def _deliver(self, mail: OutboxMail) -> None:
        message = self._message(mail)
        if not self.settings.smtp_host:
            folder = self.settings.data_dir / "mail"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{mail.created_at:%Y%m%dT%H%M%S}-{mail.id}.eml"
            path.write_bytes(message.as_bytes())
            logger.info("mail saved (no SMTP_HOST)", extra={"to": mail.recipient, "file": str(path)})
            if self.settings.environment == "production":
                return  # links carry live tokens: no console copy in production
            # Development convenience (no SMTP_HOST): the newcomer clicks the link from the console.
            print(f"--- mail to {mail.recipient}: {mail.subject} ({path}) ---\n{mail.body}", flush=True)
            return
        password = self.settings.smtp_password.get_secret_value() if self.settings.smtp_password else None
        await aiosmtplib.send(
            message,
            hostname=self.settings.smtp_host,
            port=self.settings.smtp_port,
            username=self.settings.smtp_username,
            password=password,
            # starttls: required, never opportunistic (a server without it is refused, so no
            # password or link crosses in clear text); tls: implicit TLS from the first byte.
            use_tls=self.settings.smtp_tls == "tls",
            start_tls=self.settings.smtp_tls == "starttls",
            timeout=self.settings.smtp_timeout_seconds,
        )
