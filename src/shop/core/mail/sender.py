"""The background sender: hands outbox rows to a `Delivery` with `FOR UPDATE SKIP LOCKED` (several
instances never send one mail twice) and retries with backoff until the server takes them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import func, select

from shop.core.background import BackgroundLoop
from shop.core.config import Settings
from shop.core.db import Database
from shop.core.mail.delivery import Delivery, Refused, delivery_for
from shop.core.mail.outbox import OutboxMail
from shop.core.metrics import MAIL_FAILURES, MAILS_FAILED, MAILS_SENT, OUTBOX_BACKLOG, OUTBOX_OLDEST
from shop.core.problems import is_outage

logger = logging.getLogger("shop.mail")

MAX_BACKOFF_SECONDS = 300
BATCH_SIZE = 20
# A permanent refusal (SMTP 5xx) is tried this often in all, then the mail is given up on. An
# unreachable or busy server (anything else) is retried without end: the mail waits for it.
REFUSALS_BEFORE_GIVING_UP = 3
# A mail given up on stays in the outbox (`last_error` says why) but is never due again: no schema
# change, and the due-index and the backlog leave it out.
GIVEN_UP = datetime(9999, 1, 1, tzinfo=UTC)


def _backoff(base_seconds: float, attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, base_seconds * 2 ** min(attempts - 1, 16)))


class MailSender(BackgroundLoop):
    """Drains the outbox. One per process; safe to run in many processes at once."""

    name = "mail-sender"

    def __init__(self, settings: Settings, database: Database, delivery: Delivery | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.database = database
        self.delivery = delivery or delivery_for(settings)

    async def _run(self) -> None:
        while not self.stopping:
            try:
                sent = await self.drain_once()
            except Exception as exc:  # the sender must outlive database and SMTP outages
                if is_outage(exc):  # expected while the database is away: one line, no traceback
                    logger.warning("mail sender pass failed (%s); retrying", type(exc).__name__)
                else:
                    logger.warning("mail sender pass failed; retrying", exc_info=True)
                sent = 0
            if sent == 0:
                await self.pause(self.settings.mail_poll_seconds)

    async def drain_once(self) -> int:
        """Send what is due; return how many mails were handed over."""
        sent = 0
        async with self.database.unit_of_work() as session:
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
                    await self.delivery.deliver(mail, self._message(mail))
                except Refused as exc:
                    self._refused(mail, exc)
                    continue  # this mail's fault, not the server's: the rest may go
                except Exception as exc:
                    self._failed(mail, exc)
                    # SMTP is down: the rest of the batch would fail the same way.
                    break
                mail.sent_at = datetime.now(UTC)
                # Links in mail carry live tokens: once delivered, they do not stay at rest here.
                mail.body = ""
                sent += 1
                MAILS_SENT.inc()
            await session.flush()  # this pass's hand-overs count as sent below
            backlog, oldest = (
                await session.execute(
                    select(func.count(), func.min(OutboxMail.created_at)).where(
                        OutboxMail.sent_at.is_(None), OutboxMail.next_attempt_at < GIVEN_UP
                    )
                )
            ).one()
            OUTBOX_BACKLOG.set(backlog or 0)
            OUTBOX_OLDEST.created_at = oldest.timestamp() if oldest is not None else None
        return sent

    def _failed(self, mail: OutboxMail, exc: Exception) -> None:
        MAIL_FAILURES.inc()
        mail.attempts += 1
        mail.next_attempt_at = datetime.now(UTC) + _backoff(
            self.settings.mail_retry_base_seconds, mail.attempts
        )
        mail.last_error = f"{type(exc).__name__}: {exc}"[:500]
        logger.warning("mail delivery failed", extra={"mail_id": str(mail.id), "attempts": mail.attempts})

    def _refused(self, mail: OutboxMail, exc: Refused) -> None:
        self._failed(mail, exc)
        if mail.attempts >= REFUSALS_BEFORE_GIVING_UP:
            MAILS_FAILED.inc()
            mail.next_attempt_at = GIVEN_UP
            mail.body = ""  # its links carry live tokens
            logger.error("mail refused for good", extra={"mail_id": str(mail.id), "attempts": mail.attempts})

    def _message(self, mail: OutboxMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(idstring=mail.id.hex, domain="shop.local")
        message.set_content(mail.body)
        return message
