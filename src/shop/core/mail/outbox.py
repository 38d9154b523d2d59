"""The outbox. A mail is a row in `mail.outbox`, written in the same transaction as the change that
causes it, so a request never waits on SMTP and a rolled-back change sends nothing."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import Base


class OutboxMail(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # The sender's scan: only unsent mail, in order of when it is due.
        Index("ix_outbox_due", "next_attempt_at", postgresql_where=text("sent_at IS NULL")),
        # Erasure: every mail to an address is found and deleted when its account goes.
        Index("ix_outbox_recipient", "recipient"),
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


async def erase_recipient(session: AsyncSession, recipient: str) -> list[uuid.UUID]:
    """Delete every mail to `recipient`, waiting or sent, inside the caller's transaction (its
    account is erased); the ids of the deleted mails. A mail the sender is handing over right now is
    waited for, then deleted too."""
    statement = (
        delete(OutboxMail)
        .where(OutboxMail.recipient == recipient)
        .returning(OutboxMail.id)
        .execution_options(synchronize_session=False)
    )
    return list((await session.scalars(statement)).all())


async def enqueue(session: AsyncSession, recipient: str, mail: RenderedMail) -> None:
    """Put a mail in the outbox inside the caller's transaction."""
    session.add(OutboxMail(recipient=recipient, subject=mail.subject, body=mail.body))
    await session.flush()


@dataclass(frozen=True)
class SentMail:
    """What a personal-data export shows of a mail: never its body (a waiting one holds its link)."""

    recipient: str
    subject: str
    created_at: datetime
    sent_at: datetime | None


async def mail_to(session: AsyncSession, recipients: Collection[str]) -> list[SentMail]:
    """Every mail to one of `recipients`, waiting or sent, oldest first."""
    statement = (
        select(OutboxMail.recipient, OutboxMail.subject, OutboxMail.created_at, OutboxMail.sent_at)
        .where(OutboxMail.recipient.in_(list(recipients)))
        .order_by(OutboxMail.created_at, OutboxMail.id)
    )
    return [SentMail(*row) for row in (await session.execute(statement)).all()]
