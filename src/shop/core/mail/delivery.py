"""How a mail leaves: to the SMTP server, or — with no SMTP_HOST — into `.eml` files under DATA_DIR
(and, outside production, onto the console, so a newcomer can click the link)."""

from __future__ import annotations

import logging
import re
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from shop.core.config import Settings
from shop.core.mail.outbox import OutboxMail
from shop.core.tracing import smtp_span

logger = logging.getLogger("shop.mail")

_LINK = re.compile(r"https?://[^\s<>\"]+")


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
        with smtp_span(settings.smtp_host or "", settings.smtp_port):
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
        # Written aside, then renamed: a reader never sees half a file.
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(_readable(message, mail.body).as_bytes())
        partial.replace(path)
        if not self.console:
            logger.info("mail saved (no SMTP_HOST)", extra={"to": mail.recipient, "file": str(path)})
            return
        # One log record like any other, with the body as written and its links apart, so that the
        # newcomer can click the verification link in the console.
        logger.info(
            "mail saved (no SMTP_HOST); development copy",
            extra={
                "to": mail.recipient,
                "subject": mail.subject,
                "file": str(path),
                "links": _LINK.findall(mail.body),
                "body": mail.body,
            },
        )


def _readable(message: EmailMessage, body: str) -> EmailMessage:
    """The saved file in 8bit UTF-8 rather than quoted-printable, so that a link copied from it works
    (quoted-printable turns `=` into `=3D` and folds long lines). SMTP keeps the default encoding."""
    readable = EmailMessage()
    for name, value in message.items():
        if name.lower() not in ("content-type", "content-transfer-encoding", "mime-version"):
            readable[name] = value
    try:
        readable.set_content(body, charset="utf-8", cte="8bit")
    except ValueError:  # a line too long for 8bit (RFC 5322's 998 characters): keep the default
        return message
    return readable


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
