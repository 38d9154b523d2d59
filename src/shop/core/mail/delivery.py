"""How a mail leaves: to the SMTP server, or — with no SMTP_HOST — into `.eml` files under DATA_DIR
(and, outside production, onto the console, so a newcomer can click the link)."""

from __future__ import annotations

import logging
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from shop.core.config import Settings
from shop.core.mail.outbox import OutboxMail

logger = logging.getLogger("shop.mail")


class Delivery(Protocol):
    async def deliver(self, mail: OutboxMail, message: EmailMessage) -> None:
        """Hand the mail over; raise `Refused` when the server will never take it, anything else
        when it may later (unreachable, timeout, a 4xx)."""
        ...


class Refused(Exception):
    """The server refused the mail permanently (an SMTP 5xx): trying again will not help."""


def _permanent(exc: Exception) -> bool:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(_permanent(each) for each in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 500 <= exc.code < 600
    return False


class SmtpDelivery:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def deliver(self, mail: OutboxMail, message: EmailMessage) -> None:
        settings = self.settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password,
                # starttls: required, never opportunistic (a server without it is refused, so no
                # password or link crosses in clear text); tls: implicit TLS from the first byte.
                use_tls=settings.smtp_tls == "tls",
                start_tls=settings.smtp_tls == "starttls",
                timeout=settings.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPException as exc:
            if _permanent(exc):
                raise Refused(f"{type(exc).__name__}: {exc}") from exc
            raise


class FolderDelivery:
    """The development fallback: one `.eml` file per mail, and a readable console copy."""

    def __init__(self, folder: Path, *, console: bool) -> None:
        self.folder = folder
        self.console = console

    async def deliver(self, mail: OutboxMail, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{mail.created_at:%Y%m%dT%H%M%S}-{mail.id}.eml"
        path.write_bytes(message.as_bytes())
        logger.info("mail saved (no SMTP_HOST)", extra={"to": mail.recipient, "file": str(path)})
        if self.console:
            # The body as written, not its MIME transfer encoding: the link must be clickable.
            print(f"--- mail to {mail.recipient}: {mail.subject} ({path}) ---\n{mail.body}", flush=True)


def mail_folder(settings: Settings) -> Path:
    """Where FolderDelivery saves mail (no SMTP_HOST)."""
    return settings.data_dir / "mail"


def forget_saved_mail(settings: Settings, mail_ids: list[uuid.UUID]) -> int:
    """Remove the `.eml` files FolderDelivery saved for these mails (an erased account's); how many."""
    folder = mail_folder(settings)
    removed = 0
    for mail_id in mail_ids:
        for path in folder.glob(f"*-{mail_id}.eml"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def delivery_for(settings: Settings) -> Delivery:
    if settings.smtp_host:
        return SmtpDelivery(settings)
    # Links carry live tokens: no console copy in production.
    return FolderDelivery(mail_folder(settings), console=settings.environment != "production")
